-- sqlml 0.2.0: the functions of schema sqlml in PostgreSQL.
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

-- Train on a query's rows (read inside the server) and store a new version.
-- → sqlml/in_server.py: train_model
CREATE OR REPLACE FUNCTION sqlml.train_model(
    name text, query text, request jsonb, function_name text DEFAULT NULL
) RETURNS integer
LANGUAGE plpython3u VOLATILE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.train_model, name, query, request, function_name)
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

-- → sqlml/in_server.py: set_model_version
CREATE OR REPLACE FUNCTION sqlml.set_model_version(name text, version integer) RETURNS void
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $sqlml$
@PRELUDE@
handoff.call(plpy, handoff.set_model_version, name, version)
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
CREATE OR REPLACE FUNCTION sqlml.evaluate_json(model text, query text) RETURNS jsonb
LANGUAGE plpython3u STABLE AS $sqlml$
@PRELUDE@
return handoff.call(plpy, handoff.evaluate_model, GD, model, query)
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

-- Who may do what: sqlml_user trains, manages and uses models (GRANT sqlml_user TO role).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sqlml FROM PUBLIC;
GRANT USAGE ON SCHEMA sqlml TO sqlml_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sqlml TO sqlml_user;
-- catalog_info holds the install's facts, python_path among them: the installer's alone.
REVOKE INSERT, UPDATE, DELETE ON sqlml.catalog_info FROM sqlml_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sqlml TO sqlml_user;
REVOKE ALL ON FUNCTION sqlml._float8_array_unchecked(bytea) FROM sqlml_user;
