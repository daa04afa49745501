"""Rights (README "PostgreSQL", **Rights**) with real roles that log in over trust auth.

alice is a member of sqlml_user and may read table a but not table secret; bob has no rights
on sqlml at all. Both are created here and dropped afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pg_support
import psycopg
import pytest
from pg_support import FAST, catalog_rows, execute, functions_named, rows, scalar

import sqlml

ALICE, BOB = "sqlml_t_alice", "sqlml_t_bob"
LOCKED, VAULT = "sqlml_t_locked", "sqlml_t_vault"
SIGNATURE = "double precision, text"  # alice_f's arguments


def _drop_roles(conn: psycopg.Connection) -> None:
    for role in (ALICE, BOB):
        if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


@pytest.fixture(scope="module")
def roles(pg: psycopg.Connection) -> Iterator[None]:
    _drop_roles(pg)  # left by an interrupted run
    pg.execute(f"CREATE ROLE {ALICE} LOGIN")
    pg.execute(f"CREATE ROLE {BOB} LOGIN")
    pg.execute(f"GRANT sqlml_user TO {ALICE}")
    for name in ("a", "secret"):
        pg.execute(
            f"CREATE TABLE {name} AS SELECT g AS id, (g % 13)::float8 AS x, (g % 3)::text AS w, "
            "(g % 13 > 6) AS y FROM generate_series(1, 300) g"
        )
    pg.execute(f"GRANT SELECT ON a TO {ALICE}")
    # alice may use schema LOCKED but not create in it; VAULT she may not even use.
    pg.execute(f"DROP SCHEMA IF EXISTS {LOCKED} CASCADE")
    pg.execute(f"DROP SCHEMA IF EXISTS {VAULT} CASCADE")
    pg.execute(f"CREATE SCHEMA {LOCKED}")
    pg.execute(f"GRANT USAGE ON SCHEMA {LOCKED} TO {ALICE}")
    pg.execute(f"CREATE SCHEMA {VAULT}")
    yield
    pg_support.reset(pg)
    pg.execute(f"DROP SCHEMA {LOCKED} CASCADE")
    pg.execute(f"DROP SCHEMA {VAULT} CASCADE")
    _drop_roles(pg)


def _login(pg: psycopg.Connection, role: str) -> psycopg.Connection:
    return psycopg.connect(pg_support.dsn_for(pg.info.dbname, role), autocommit=True)


@pytest.fixture(scope="module")
def alice(pg, roles) -> Iterator[psycopg.Connection]:
    with _login(pg, ALICE) as conn:
        yield conn


@pytest.fixture(scope="module")
def bob(pg, roles) -> Iterator[psycopg.Connection]:
    with _login(pg, BOB) as conn:
        yield conn


@pytest.fixture(scope="module")
def alice_model(alice) -> dict:
    (summary,) = execute(
        alice,
        f"CREATE MODEL alice_m TARGET y FUNCTION alice_f OPTIONS ({FAST}) AS SELECT x, w, y FROM a",
    )
    return summary


def denied(conn: psycopg.Connection, query: str, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    return caught.value


def test_alice_trains_and_uses_a_model_on_a_table_she_may_read(alice, alice_model):
    assert alice_model["model"] == "alice_m" and alice_model["version"] == 1
    labels = rows(alice, "SELECT alice_f(x, w) FROM a ORDER BY id")
    assert {label for (label,) in labels} == {True, False}
    assert (
        rows(alice, "SELECT sqlml.predict('alice_m', to_jsonb(a))::boolean FROM a ORDER BY id")
        == labels
    )
    # The client works for her too (PREDICT uses the model's functions in schema sqlml).
    with sqlml.connect(alice) as con:
        assert con.execute("SELECT PREDICT(alice_m, x, w) FROM a ORDER BY id").fetchall() == labels
        assert [r[0] for r in con.execute("SHOW MODELS").fetchall()] == ["alice_m"]


def test_alice_cannot_train_on_a_table_she_may_not_read(pg, alice, alice_model):
    error = denied(
        alice,
        "SELECT * FROM sqlml.execute(%s)",
        [
            f"CREATE MODEL stolen TARGET y FUNCTION stolen_f OPTIONS ({FAST}) "
            "AS SELECT x, w, y FROM secret"
        ],
    )
    assert error.sqlstate == "42501"  # PostgreSQL's own insufficient_privilege
    # sqlml's error comes first in psql, not SPI's exception class and a traceback.
    assert error.diag.message_primary.startswith("sqlml: permission denied for table secret")
    assert ALICE in error.diag.message_primary
    assert catalog_rows(pg, "stolen") == (0, 0)
    assert functions_named(pg, "stolen_f") == []
    with sqlml.connect(alice) as con, pytest.raises(sqlml.PermissionDeniedError, match="secret"):
        con.execute(f"CREATE MODEL stolen TARGET y OPTIONS ({FAST}) AS SELECT x, w, y FROM secret")
    assert catalog_rows(pg, "stolen") == (0, 0)


def test_a_role_outside_sqlml_user_is_told_what_to_grant(pg, bob):
    with pytest.raises(sqlml.PermissionDeniedError, match=f"GRANT sqlml_user TO {BOB}"):
        sqlml.connect(pg_support.dsn_for(pg.info.dbname, BOB))


def test_bob_needs_a_grant_to_use_a_model(pg, alice, bob, alice_model):
    error = denied(bob, "SELECT alice_f(1.0, '1')")
    assert error.sqlstate == "42501"
    assert "permission denied for function alice_f" in error.diag.message_primary
    error = denied(bob, 'SELECT sqlml.predict(\'alice_m\', \'{"x": 1.0, "w": "1"}\')')
    assert error.sqlstate == "42501"
    error = denied(bob, "SELECT * FROM sqlml.execute('SHOW MODELS')")
    assert error.sqlstate == "42501"

    pg.execute(f"GRANT EXECUTE ON FUNCTION alice_f({SIGNATURE}) TO {BOB}")
    try:
        expected = scalar(alice, "SELECT alice_f(1.0, '1')")
        assert scalar(bob, "SELECT alice_f(1.0, '1')") == expected
        # Only that function: the rest of sqlml stays closed to him.
        assert denied(bob, "SELECT * FROM sqlml.models").sqlstate == "42501"
    finally:
        pg.execute(f"REVOKE EXECUTE ON FUNCTION alice_f({SIGNATURE}) FROM {BOB}")


def test_alice_cannot_make_a_function_where_she_may_not_create(pg, alice, alice_model):
    assert not scalar(pg, "SELECT has_schema_privilege(%s, %s, 'CREATE')", [ALICE, LOCKED])
    alice.execute(f"SET search_path = {LOCKED}, public")
    try:
        assert scalar(alice, "SELECT current_schema()") == LOCKED
        error = denied(
            alice,
            "SELECT * FROM sqlml.execute(%s)",
            [
                f"CREATE MODEL locked_m TARGET y FUNCTION locked_f OPTIONS ({FAST}) "
                "AS SELECT x, w, y FROM a"
            ],
        )
    finally:
        alice.execute("RESET search_path")
    assert LOCKED in error.diag.message_primary
    assert error.diag.message_primary.startswith("sqlml: ")
    assert catalog_rows(pg, "locked_m") == (0, 0)
    assert functions_named(pg, "locked_f") == []
    assert functions_named(pg, "sqlml\\_%\\_locked\\_m\\_%") == []


def test_the_only_security_definer_functions(pg, alice_model):
    definers = rows(  # sqlml's own, not those of extensions (dblink's)
        pg,
        "SELECT p.oid::regprocedure::text, proconfig FROM pg_proc p WHERE prosecdef AND NOT "
        "EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1",
    )
    assert [name for name, _ in definers] == [
        "sqlml._install_model_functions(text)",
        "sqlml.drop_model(text)",
        "sqlml.drop_model_version(text,integer,boolean)",
        "sqlml.float8_array(bytea)",
        "sqlml.record_failed_run(jsonb)",
        "sqlml.set_model_version(text,integer,text)",
    ]
    assert all(config == ["search_path=pg_catalog, pg_temp"] for _, config in definers)


def test_batch_answers_cannot_forge_an_array(pg, alice, alice_model):
    # float8_array takes only the bytes of a one-dimensional float8[] of their own length;
    # anything else is NULL, and the unchecked cast behind it is the installer's alone.
    header = "SELECT sqlml._float8_array_bytes(ARRAY[1.5, 2.5]::float8[])"
    (good,) = alice.execute(f"SELECT sqlml.float8_array(({header}))").fetchone()
    assert good == [1.5, 2.5]
    for forged in (
        f"substring(({header}) FROM 1 FOR 20)",  # no values
        f"({header}) || '\\x0000000000000000'::bytea",  # more values than its length says
        f"overlay(({header}) PLACING '\\x02000000'::bytea FROM 1)",  # two dimensions
        f"overlay(({header}) PLACING '\\x17000000'::bytea FROM 9)",  # integers, not float8
        "'\\x00'::bytea",
    ):
        assert alice.execute(f"SELECT sqlml.float8_array({forged})").fetchone() == (None,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute(f"SELECT sqlml._float8_array_unchecked(({header}))")


def _forge(alice: psycopg.Connection, name: str, function: str, schema: str) -> None:
    """alice, who may write the catalog, describes a model whose FUNCTION is someone else's."""
    alice.execute(
        "INSERT INTO sqlml.model_registry (name, current_version, function_name, owner, "
        "created_at, updated_at) SELECT %s, 1, %s, current_user, now(), now()",
        [name, function],
    )
    alice.execute(
        "INSERT INTO sqlml.model_versions SELECT %s, 1, task, algorithm, target, metric_name, "
        "metric_value, (metadata::jsonb || jsonb_build_object('function_schema', %s::text))::text, "
        "onnx, onnx_sha256, created_at FROM sqlml.model_versions WHERE name = 'alice_m'",
        [name, schema],
    )


def _unforge(pg: psycopg.Connection, name: str) -> None:
    for signature in functions_named(pg, f"sqlml\\_%\\_{name}\\_%"):
        pg.execute(f"DROP FUNCTION {signature}")
    for table in ("model_objects", "model_versions", "model_registry"):
        pg.execute(f"DELETE FROM sqlml.{table} WHERE name = %s", [name])


def test_drop_model_cannot_drop_a_function_the_caller_could_not(pg, alice, alice_model):
    # A function in a schema alice may not even use.
    pg.execute(
        f"CREATE FUNCTION {VAULT}.vault_fn({SIGNATURE}) RETURNS boolean "
        "LANGUAGE sql AS 'SELECT true'"
    )
    _forge(alice, "forged_drop", "vault_fn", VAULT)
    try:
        with contextlib.suppress(psycopg.Error):  # refusing is right; dropping it is not
            alice.execute("SELECT sqlml.drop_model('forged_drop')")
        assert functions_named(pg, "vault_fn") == [
            f"{VAULT}.vault_fn({SIGNATURE.replace(', ', ',')})"
        ]
    finally:
        _unforge(pg, "forged_drop")
        pg.execute(f"DROP FUNCTION IF EXISTS {VAULT}.vault_fn({SIGNATURE})")


def test_install_model_functions_cannot_replace_another_roles_function(pg, alice, bob, alice_model):
    # bob's own function in public, where everyone may create functions but only he may
    # replace his.
    bob.execute(
        f"CREATE FUNCTION public.bob_fn({SIGNATURE}) RETURNS boolean "
        "LANGUAGE sql AS 'SELECT NULL::boolean'"
    )
    _forge(alice, "forged_replace", "bob_fn", "public")
    try:
        with contextlib.suppress(psycopg.Error):  # refusing is right; replacing it is not
            alice.execute("SELECT sqlml._install_model_functions('forged_replace')")
        language = scalar(
            pg,
            "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.proname = 'bob_fn'",
        )
        assert language == "sql"  # still bob's function, not a model's PL/Python one
        assert scalar(bob, "SELECT bob_fn(1.0, '1')") is None
    finally:
        _unforge(pg, "forged_replace")
        pg.execute(f"DROP FUNCTION IF EXISTS public.bob_fn({SIGNATURE})")


def test_a_failed_run_in_the_server_outlives_its_rolled_back_transaction(pg, alice, bob):
    alice.execute("BEGIN")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        execute(alice, f"CREATE MODEL peek TARGET y OPTIONS ({FAST}) AS SELECT x, y FROM secret")
    alice.execute("ROLLBACK")
    (run,) = rows(
        pg, "SELECT run_by, status, version, error_message FROM sqlml.runs WHERE model = 'peek'"
    )
    assert run[:3] == (ALICE, "failed", None) and "secret" in run[3]
    # The function writes only failed runs, of the role that calls it.
    forged = '{"run_id": "forged", "model": "peek", "started_at": "2026-01-01", "status": "%s"}'
    assert not scalar(alice, "SELECT sqlml.record_failed_run(%s)", [forged % "succeeded"])
    assert scalar(alice, "SELECT sqlml.record_failed_run(%s)", [forged % "failed"])
    assert scalar(pg, "SELECT run_by FROM sqlml.runs WHERE run_id = 'forged'") == ALICE
    assert denied(bob, "SELECT sqlml.record_failed_run(%s)", [forged % "failed"]).sqlstate == (
        "42501"
    )
    # dblink's functions connect anywhere: only the installer may reach them.
    assert not scalar(pg, "SELECT has_schema_privilege(%s, 'sqlml_dblink', 'USAGE')", [ALICE])
