-- sqlml 0.5.0: the functions of schema sqlml in PostgreSQL.
--
-- `sqlml install` runs this after creating the catalog tables (udfs/catalog.py) and
-- replaces each @PRELUDE@ with two lines that put sqlml's packages on the server
-- Python's path and import sqlml/in_server.py as `handoff`. Every body hands off to one
-- function there; the comment above each names it. Functions run with the caller's rights unless marked SECURITY DEFINER, and
-- those never run SQL text that a caller supplies.

-- Run any sqlml statement; one jsonb object per result row.
-- → sqlml/in_server.py: execute
CREATE OR REPLACE FUNCTION sqlml.execute(statement text) RETURNS SETOF jsonb
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.execute, GD, statement)
$sqlml$;

-- Functions of earlier releases whose arguments changed (0.2.0: no query parameters).
DROP FUNCTION IF EXISTS sqlml.train_model(text, text, jsonb, text);
DROP FUNCTION IF EXISTS sqlml.evaluate_json(text, text);

-- Train on a query's rows (read inside the server) and store a new version. The query's
-- placeholders $1, $2 ... stand for the values of `params` (a JSON array).
-- → sqlml/in_server.py: train_model
CREATE OR REPLACE FUNCTION sqlml.train_model(
    name text, query text, request jsonb, function_name text DEFAULT NULL,
    params jsonb DEFAULT '[]'
) RETURNS integer
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.train_model, name, query, request, function_name, params)
$sqlml$;

-- (Re)create the SQL functions that serve a model's in-use version.
-- → sqlml/in_server.py: install_model_functions
CREATE OR REPLACE FUNCTION sqlml._install_model_functions(name text) RETURNS void
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
@PRELUDE@
handoff.call(plpy, handoff.install_model_functions, name)
$sqlml$;

-- → sqlml/in_server.py: drop_model
CREATE OR REPLACE FUNCTION sqlml.drop_model(name text) RETURNS void
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
@PRELUDE@
handoff.call(plpy, handoff.drop_model, name)
$sqlml$;

-- SET VERSION n, or with version NULL and action 'rollback', ROLLBACK (the version found
-- under the model's lock). 0.4.0 had the two-argument form; one function of the name stays.
DROP FUNCTION IF EXISTS sqlml.set_model_version(text, integer);
-- → sqlml/in_server.py: set_model_version
CREATE OR REPLACE FUNCTION sqlml.set_model_version(
    name text, version integer, action text DEFAULT 'set version'
) RETURNS void
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
@PRELUDE@
handoff.call(plpy, handoff.set_model_version, name, version, action)
$sqlml$;

-- DROP MODEL m VERSION n [FORCE]
-- → sqlml/in_server.py: drop_model_version
CREATE OR REPLACE FUNCTION sqlml.drop_model_version(
    name text, version integer, force boolean DEFAULT false
) RETURNS void
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
@PRELUDE@
handoff.call(plpy, handoff.drop_model_version, name, version, force)
$sqlml$;

-- A failed or cancelled CREATE MODEL's run: the error rolls back the caller's transaction
-- and any row written in it, so the row is written on a connection of its own (dblink,
-- which `sqlml install` adds in schema sqlml_dblink where the server has it) and stays.
-- Only failed and cancelled runs of the session's role are written; false: not recorded.
CREATE OR REPLACE FUNCTION sqlml.record_failed_run(run jsonb) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
DECLARE
    dblink_schema name := (
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'dblink');
    -- This server's own database, as the installer: each value quoted as libpq reads it,
    -- '...' with \ and ' escaped.
    conninfo text := (
        SELECT string_agg(
            format('%s=''%s''', key, replace(replace(value, '\', '\\'), '''', '\''')), ' ')
        FROM (VALUES
            ('dbname', current_database()::text),
            ('user', current_user::text),
            ('port', current_setting('port')),
            ('host', nullif(trim(split_part(
                current_setting('unix_socket_directories'), ',', 1)), ''))
        ) AS setting (key, value)
        WHERE value IS NOT NULL);
BEGIN
    IF dblink_schema IS NULL OR run->>'status' NOT IN ('failed', 'cancelled') THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT %I.dblink_exec($1, $2)', dblink_schema) USING conninfo, format(
        'INSERT INTO sqlml.runs (run_id, model, started_at, seconds, run_by, status, '
        'error_message, options, facts) VALUES (%L, %L, %L, %L, %L, %L, %L, %L, %L)',
        run->>'run_id', run->>'model', run->>'started_at', run->>'seconds', session_user,
        run->>'status', run->>'error_message', run->>'options', coalesce(run->>'facts', '{}'));
    RETURN true;
EXCEPTION WHEN others THEN
    RAISE WARNING 'sqlml: the failed run of model % was not recorded: %', run->>'model', SQLERRM;
    RETURN false;
END
$sqlml$;

-- EXPORT MODEL's file as bytes (the version in use unless one is given): the server's file
-- system is not the caller's, so the caller writes the file, e.g. psql's \lo_export or
-- \copy of encode(..., 'base64'). Read with the caller's rights: row security applies.
-- → sqlml/in_server.py: export_model
CREATE OR REPLACE FUNCTION sqlml.export_model(name text, version integer DEFAULT NULL)
RETURNS bytea
LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.export_model, name, version)
$sqlml$;

-- IMPORT MODEL of a file's bytes (the server cannot read the caller's files): the version
-- stored. The other arguments are the statement's clauses (TASK, FEATURES, TARGET,
-- FUNCTION, OR REPLACE).
-- → sqlml/in_server.py: import_model
CREATE OR REPLACE FUNCTION sqlml.import_model(
    name text, onnx bytea, task text DEFAULT NULL, features text[] DEFAULT NULL,
    target text DEFAULT NULL, function_name text DEFAULT NULL, replace boolean DEFAULT false
) RETURNS integer
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(
    plpy, handoff.import_model, GD, name, onnx, task, features, target, function_name, replace
)
$sqlml$;

-- A model's prediction for one row given as a JSON object of its features (text).
-- → sqlml/in_server.py: predict_json
CREATE OR REPLACE FUNCTION sqlml.predict(model text, features jsonb) RETURNS text
LANGUAGE plpython3u STABLE PARALLEL RESTRICTED AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.predict_json, GD, model, features, False)
$sqlml$;

-- Binary: the larger label's probability; multiclass: {label: probability}.
-- → sqlml/in_server.py: predict_json
CREATE OR REPLACE FUNCTION sqlml.predict_proba(model text, features jsonb) RETURNS jsonb
LANGUAGE plpython3u STABLE PARALLEL RESTRICTED AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.predict_json, GD, model, features, True)
$sqlml$;

-- Metrics of a model on a query's rows (the target column included), as JSON.
-- → sqlml/in_server.py: evaluate_model
CREATE OR REPLACE FUNCTION sqlml.evaluate_json(
    model text, query text, params jsonb DEFAULT '[]'
) RETURNS jsonb
-- VOLATILE: the types of the query's placeholders are found with PREPARE.
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.evaluate_model, GD, model, query, params)
$sqlml$;

-- A real[]'s own bytes, for the batch PREDICT path to hand a chunk of rows to Python
-- without a per-value conversion: bytea's send function copies any varlena as it is.
CREATE OR REPLACE FUNCTION sqlml.array_bytes(real[]) RETURNS bytea
LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend';

-- The way back for a chunk's answers: a batch function returns its float8[]'s own bytes,
-- which become the array again without PL/Python converting each value to text and back.
-- The raw cast would take any bytes for an array, so only sqlml's own float8_array may call
-- it, after checking the header is exactly a one-dimensional float8[] of the bytes' length
-- (the header of an array of that many zeros, made by the server itself).
CREATE OR REPLACE FUNCTION sqlml._float8_array_unchecked(bytea) RETURNS float8[]
LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend';
CREATE OR REPLACE FUNCTION sqlml._float8_array_bytes(float8[]) RETURNS bytea
LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend';
CREATE OR REPLACE FUNCTION sqlml.float8_array(answers bytea) RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN length(answers) > 20 AND (length(answers) - 20) % 8 = 0
            AND substring(answers FROM 1 FOR 20) = substring(sqlml._float8_array_bytes(
                array_fill(0::float8, ARRAY[(length(answers) - 20) / 8])) FROM 1 FOR 20)
        THEN sqlml._float8_array_unchecked(answers)
    END
$$;

-- A query with sqlml's functions (PREDICT, ML.*, FEATURES_AT_TIME) as PostgreSQL's own SQL.
-- → sqlml/in_server.py: engine_sql
CREATE OR REPLACE FUNCTION sqlml.sql(query text) RETURNS text
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.engine_sql, GD, query)
$sqlml$;

-- One expression with sqlml's functions, computed row by row (PREDICT(m, c.*)), as
-- PostgreSQL's own SQL, for a select list written elsewhere (dbt's sqlml.predict macro).
-- → sqlml/in_server.py: engine_expression
CREATE OR REPLACE FUNCTION sqlml.sql_expression(expression text) RETURNS text
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.engine_expression, GD, expression)
$sqlml$;

-- The same query's rows as a real table, for psql and BI tools: the call names the columns,
--   SELECT * FROM sqlml.query($$SELECT id, PREDICT(churn, *) AS churned FROM customers$$)
--       AS t(id integer, churned boolean);
-- The query runs as PostgreSQL SQL (chunked and parallel PREDICT included), with the
-- caller's rights: it is the caller's own query.
CREATE OR REPLACE FUNCTION sqlml.query(query text) RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY EXECUTE sqlml.sql(query);
END
$$;

-- Table forms of SHOW / DESCRIBE / EVALUATE / EXPLAIN for psql and BI tools.
-- → sqlml/in_server.py: command_rows
CREATE OR REPLACE FUNCTION sqlml.show_models() RETURNS TABLE (
    name text, version integer, task text, algorithm text, target text, metric text,
    metric_value double precision, function text, created_at timestamp
) LANGUAGE sql STABLE AS $$ SELECT * FROM sqlml.models ORDER BY name $$;

CREATE OR REPLACE FUNCTION sqlml.describe_model(model text) RETURNS TABLE (
    section text, "position" integer, name text, value text
) LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.command_rows, GD, "describe", model)
$sqlml$;

CREATE OR REPLACE FUNCTION sqlml.explain_model(model text) RETURNS TABLE (
    feature text, importance double precision
) LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.command_rows, GD, "explain", model)
$sqlml$;

CREATE OR REPLACE FUNCTION sqlml.model_versions(model text) RETURNS TABLE (
    name text, version integer, in_use boolean, algorithm text, metric text,
    metric_value double precision, rows_train bigint, created_at timestamp
) LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.command_rows, GD, "versions", model)
$sqlml$;

CREATE OR REPLACE FUNCTION sqlml.evaluate_model(model text, query text DEFAULT NULL)
RETURNS TABLE (metric text, value double precision) LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.evaluate_rows, GD, model, query)
$sqlml$;

-- Whether a role may replace, drop, alter or re-version a model its owner made: the owner,
-- the owner's members and sqlml_admin may (PostgreSQL's own rule for its objects). A model
-- whose owner is gone, or has none, is sqlml_admin's.
CREATE OR REPLACE FUNCTION sqlml.may_manage(member name, owner text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT pg_has_role(member, 'sqlml_admin', 'MEMBER') OR coalesce(
        (SELECT pg_has_role(member, r.oid, 'MEMBER') FROM pg_roles r WHERE r.rolname = owner),
        false)
$$;

-- Whether the current role may manage the model of that name: a row of its versions, its
-- deployment history or its statistics is the model's.
CREATE OR REPLACE FUNCTION sqlml.may_manage_model(model text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT sqlml.may_manage(
        current_user, (SELECT r.owner FROM sqlml.model_registry r WHERE r.name = model))
$$;

-- Whether the current role may see what a version's training rows looked like: it may
-- manage the model, or read every table the training query read.
CREATE OR REPLACE FUNCTION sqlml.may_see_statistics(model text, model_version integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT sqlml.may_manage(current_user, r.owner) OR coalesce((
        SELECT bool_and(CASE WHEN to_regclass(relation) IS NULL THEN false
                        ELSE has_table_privilege(to_regclass(relation), 'SELECT') END)
        FROM jsonb_array_elements_text(v.metadata::jsonb -> 'training_relations') AS relation
    ), false)
    FROM sqlml.model_registry r JOIN sqlml.model_versions v ON v.name = r.name
    WHERE r.name = model AND v.version = model_version
$$;

-- Models made before owners were kept are the installer's: sqlml_admin gives them away
-- with ALTER MODEL ... OWNER TO. Their statistics move out of the metadata every user reads.
UPDATE sqlml.model_registry SET owner = current_user WHERE owner IS NULL;
INSERT INTO sqlml.model_statistics (name, version, feature_info)
SELECT name, version, (metadata::jsonb -> 'feature_info')::text FROM sqlml.model_versions
WHERE metadata::jsonb ? 'feature_info' ON CONFLICT DO NOTHING;
UPDATE sqlml.model_versions SET metadata = (metadata::jsonb - 'feature_info')::text
WHERE metadata::jsonb ? 'feature_info';

-- The statements' rules hold for the catalog tables too: row security lets every user
-- read the models and change only those it may manage. The SECURITY DEFINER functions
-- (the installer's) check the session's role themselves.
ALTER TABLE sqlml.model_registry ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS read ON sqlml.model_registry;
CREATE POLICY read ON sqlml.model_registry FOR SELECT USING (true);
DROP POLICY IF EXISTS own ON sqlml.model_registry;
CREATE POLICY own ON sqlml.model_registry FOR INSERT WITH CHECK (owner = current_user);
DROP POLICY IF EXISTS manage ON sqlml.model_registry;
CREATE POLICY manage ON sqlml.model_registry FOR UPDATE
    USING (sqlml.may_manage(current_user, owner)) WITH CHECK (sqlml.may_manage(current_user, owner));
DROP POLICY IF EXISTS remove ON sqlml.model_registry;
CREATE POLICY remove ON sqlml.model_registry FOR DELETE
    USING (sqlml.may_manage(current_user, owner));

ALTER TABLE sqlml.model_versions ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS read ON sqlml.model_versions;
CREATE POLICY read ON sqlml.model_versions FOR SELECT USING (true);
DROP POLICY IF EXISTS add ON sqlml.model_versions;
CREATE POLICY add ON sqlml.model_versions FOR INSERT WITH CHECK (sqlml.may_manage_model(name));
DROP POLICY IF EXISTS remove ON sqlml.model_versions;
CREATE POLICY remove ON sqlml.model_versions FOR DELETE USING (sqlml.may_manage_model(name));

-- The deployment history: everyone reads it; rows are added with a change its maker may do,
-- and only the installer's functions remove them (with the model).
ALTER TABLE sqlml.model_deployments ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS read ON sqlml.model_deployments;
CREATE POLICY read ON sqlml.model_deployments FOR SELECT USING (true);
DROP POLICY IF EXISTS add ON sqlml.model_deployments;
CREATE POLICY add ON sqlml.model_deployments FOR INSERT WITH CHECK (sqlml.may_manage_model(name));

-- Runs: everyone reads them (to compare); each role adds its own, nobody edits them.
ALTER TABLE sqlml.runs ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS read ON sqlml.runs;
CREATE POLICY read ON sqlml.runs FOR SELECT USING (true);
DROP POLICY IF EXISTS add ON sqlml.runs;
CREATE POLICY add ON sqlml.runs FOR INSERT WITH CHECK (run_by = current_user);

ALTER TABLE sqlml.model_statistics ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS read ON sqlml.model_statistics;
CREATE POLICY read ON sqlml.model_statistics FOR SELECT
    USING (sqlml.may_see_statistics(name, version));
DROP POLICY IF EXISTS add ON sqlml.model_statistics;
CREATE POLICY add ON sqlml.model_statistics FOR INSERT WITH CHECK (sqlml.may_manage_model(name));

-- Who may do what: sqlml_user trains, manages its own and uses every model (GRANT sqlml_user
-- TO role); sqlml_admin manages every model.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sqlml FROM PUBLIC;
GRANT USAGE ON SCHEMA sqlml TO sqlml_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sqlml TO sqlml_user;
-- catalog_info holds the install's facts, python_path among them: the installer's alone.
REVOKE INSERT, UPDATE, DELETE ON sqlml.catalog_info FROM sqlml_user;
-- A model's engine objects are made, recorded and dropped by the installer's functions only.
REVOKE INSERT, UPDATE, DELETE ON sqlml.model_objects FROM sqlml_user;
REVOKE UPDATE ON sqlml.model_versions, sqlml.model_statistics FROM sqlml_user;
REVOKE UPDATE, DELETE ON sqlml.model_deployments, sqlml.runs FROM sqlml_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sqlml TO sqlml_user;
REVOKE ALL ON FUNCTION sqlml._float8_array_unchecked(bytea) FROM sqlml_user;
