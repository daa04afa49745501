-- sqlml 0.1.0 → 0.2.0: the catalog gets its keys (and, on PostgreSQL, its foreign keys), the
-- owner of each model and the list of engine objects made for it.
--
-- 0.1.0's catalog had no keys, and concurrent CREATE MODEL could store one version number
-- twice and register one model twice. Nothing is lost here: a version whose number another
-- version of the model already has is kept under a new number after the model's last; of
-- several registry rows of one model the one written last stays.
--
-- Both engines run this script (`sqlml install --upgrade` on PostgreSQL, the first connection
-- on DuckDB), so it is portable SQL. @CATALOG_TABLES@ stands for the engine's CREATE TABLE
-- statements of this release (udfs/catalog.py: ddl).

DROP VIEW IF EXISTS sqlml.models;
ALTER TABLE sqlml.catalog_info RENAME TO catalog_info_0_1_0;
ALTER TABLE sqlml.model_registry RENAME TO model_registry_0_1_0;
ALTER TABLE sqlml.model_versions RENAME TO model_versions_0_1_0;
ALTER TABLE sqlml.feature_tables RENAME TO feature_tables_0_1_0;

@CATALOG_TABLES@

INSERT INTO sqlml.catalog_info (key, value)
SELECT key, max(value) FROM sqlml.catalog_info_0_1_0 GROUP BY key;

INSERT INTO sqlml.model_registry
    (name, current_version, function_name, owner, created_at, updated_at)
SELECT name, current_version, function_name, NULL, created_at, updated_at
FROM (
    SELECT r.*, row_number() OVER (
        PARTITION BY name ORDER BY updated_at DESC, current_version DESC) AS latest
    FROM sqlml.model_registry_0_1_0 r
) AS registered
WHERE latest = 1;

-- copy 1 of a (name, version) keeps its number; copies 2, 3 ... come after the last one.
INSERT INTO sqlml.model_versions
    (name, version, task, algorithm, target, metric_name, metric_value, metadata, onnx,
     onnx_sha256, created_at)
SELECT name,
    CASE WHEN copy = 1 THEN version
        ELSE last_version + row_number() OVER (
            PARTITION BY name, copy = 1 ORDER BY version, copy)
    END,
    task, algorithm, target, metric_name, metric_value, metadata, onnx, onnx_sha256, created_at
FROM (
    SELECT v.*,
        row_number() OVER (PARTITION BY name, version ORDER BY created_at, onnx_sha256) AS copy,
        max(version) OVER (PARTITION BY name) AS last_version
    FROM sqlml.model_versions_0_1_0 v
    WHERE name IN (SELECT name FROM sqlml.model_registry)
) AS numbered;

INSERT INTO sqlml.feature_tables (name, definition, created_at, refreshed_at)
SELECT name, definition, created_at, refreshed_at
FROM (
    SELECT f.*, row_number() OVER (PARTITION BY name ORDER BY refreshed_at DESC) AS latest
    FROM sqlml.feature_tables_0_1_0 f
) AS defined
WHERE latest = 1;

DROP TABLE sqlml.catalog_info_0_1_0;
DROP TABLE sqlml.model_registry_0_1_0;
DROP TABLE sqlml.model_versions_0_1_0;
DROP TABLE sqlml.feature_tables_0_1_0;
