"""BigQuery ML's table functions (ML.PREDICT, ML.EVALUATE, ...): rewritten into queries, or
answered by sqlml and inlined."""
