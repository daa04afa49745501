"""Turn parsed sqlml SQL into the engine's own SQL: after this, nothing ML is left."""
