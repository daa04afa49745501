"""Feature tables: the point-in-time rule, FEATURES_AT_TIME, PREDICT's feature lookup, and
the CREATE / REFRESH / SHOW / DESCRIBE / DROP FEATURE TABLE statements."""
