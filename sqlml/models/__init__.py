"""Models: CREATE MODEL in sqlml's form and BigQuery ML's and Redshift ML's, TRANSFORM, and
the statements that show, evaluate, explain, drop and version them."""
