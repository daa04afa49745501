"""sqlml inside other tools: dbt (the dbt-duckdb plugin and the sqlml dbt package)."""
