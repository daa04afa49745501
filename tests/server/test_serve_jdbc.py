"""pgjdbc and node-postgres against ``sqlml serve``.

jdbc/SqlmlJdbc.java is compiled once for the module and run once against the served
database; it prints one line per result ("check<TAB>value", "check<TAB>ERROR <SQLSTATE>
<message>" when the driver throws), and each test below checks one part of that output:
DatabaseMetaData, a PreparedStatement past pgjdbc's prepareThreshold, a fetch size
through a suspended portal, a model trained and used, errors with their SQLSTATEs.
node/script.js does the same for node-postgres with a few queries, printing JSON.

pgjdbc is Debian's libpostgresql-jdbc-java (/usr/share/java/postgresql.jar) and pg comes
from node/package-lock.json; .ci/run installs both. Without java, javac or the jar (or
node and node/node_modules) here, the tests say so and skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from serve_support import Served

HERE = Path(__file__).parent
JAR = Path("/usr/share/java/postgresql.jar")
SOURCE = HERE / "jdbc" / "SqlmlJdbc.java"
NODE = HERE / "node"

# What the programs get wrong on purpose, left out of a failure's server log.
DELIBERATE_ERRORS = ("no_such_table", '"nosuch"')

# java.sql.Types
INTEGER, VARCHAR, TIMESTAMP, NUMERIC, BIT, BIGINT, DOUBLE = 4, 12, 93, 2, -7, -5, 8


@dataclass
class JdbcRun:
    output: dict[str, list[str]]  # each check's values, in the order printed
    server_failures: list[str]  # what the server logged as failing while it ran

    def values(self, check: str) -> list[str]:
        """One check's output; a check pgjdbc threw in fails, with the server's log."""
        values = self.output.get(check, [])
        errors = [v for v in values if v.startswith("ERROR ")]
        if errors:
            pytest.fail(
                f"pgjdbc {check}: {errors[0]}\nthe server's failed statements meanwhile:\n"
                + ("\n".join(self.server_failures) or "(none)"),
                pytrace=False,
            )
        return values


@pytest.fixture(scope="module")
def tables(served: Served) -> Iterator[None]:
    """What the Java program reads; names of their own, as the server is the session's."""
    with served.connect() as con:
        con.execute(
            "CREATE TABLE jdbc_customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "joined TIMESTAMP, score DECIMAL(10, 2))"
        )
        con.execute(
            "INSERT INTO jdbc_customers VALUES (1, 'ann', NULL, 1.50), "
            "(2, 'bob', TIMESTAMP '2024-01-02 03:04:05', 2), (3, 'cy', NULL, NULL)"
        )
        con.execute(
            "CREATE TABLE jdbc_orders (id INTEGER PRIMARY KEY, "
            "customer_id INTEGER REFERENCES jdbc_customers(id), amount DOUBLE)"
        )
        con.execute("CREATE INDEX jdbc_orders_amount ON jdbc_orders(amount)")
        con.execute("CREATE VIEW jdbc_customer_names AS SELECT name FROM jdbc_customers")
        con.execute(
            "CREATE TABLE jdbc_points AS SELECT (i % 10)::DOUBLE AS x, (i % 10 > 4) AS y "
            "FROM range(200) r(i)"
        )
    yield
    with served.connect() as con:
        con.execute("DROP MODEL IF EXISTS jdbc_model")
        for statement in (
            "DROP VIEW jdbc_customer_names",
            "DROP TABLE jdbc_orders",
            "DROP TABLE jdbc_customers",
            "DROP TABLE jdbc_points",
        ):
            con.execute(statement)


@pytest.fixture(scope="module")
def jdbc(served: Served, tables: None, tmp_path_factory: pytest.TempPathFactory) -> JdbcRun:
    """The Java program's output, and what the server logged as failing meanwhile."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {' or '.join(missing)} on PATH (a JDK is needed for the pgjdbc tests)")
    if not JAR.exists():
        pytest.skip(f"no pgjdbc at {JAR}: apt-get install libpostgresql-jdbc-java")
    classes = tmp_path_factory.mktemp("jdbc")
    subprocess.run(
        ["javac", "-encoding", "UTF-8", "-d", str(classes), "-cp", str(JAR), str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    logged = len(served.log)
    ran = subprocess.run(
        ["java", "-Dfile.encoding=UTF-8", "-cp", f"{JAR}:{classes}", "SqlmlJdbc", str(served.port)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert ran.returncode == 0, f"pgjdbc program failed:\n{ran.stdout}\n{ran.stderr}"
    results: dict[str, list[str]] = {}
    for line in ran.stdout.splitlines():
        check, _, value = line.partition("\t")
        results.setdefault(check, []).append(value)
    assert results.get("done") == ["ok"], ran.stdout
    failed = [
        line.rstrip()
        for line in served.log[logged:]
        if ("statement failed" in line or "internal error" in line)
        and not any(on_purpose in line for on_purpose in DELIBERATE_ERRORS)
    ]
    return JdbcRun(results, failed)


def _rows(values: list[str]) -> list[list[str]]:
    return [v.split("|") for v in values]


def test_pgjdbc_connects_to_what_it_takes_for_postgresql(jdbc: JdbcRun) -> None:
    assert jdbc.values("connected") == ["PostgreSQL"]


def test_get_tables_lists_tables_and_views(jdbc: JdbcRun) -> None:
    found = sorted(_rows(jdbc.values("tables")))
    assert found == [
        ["main", "jdbc_customer_names", "VIEW"],
        ["main", "jdbc_customers", "TABLE"],
        ["main", "jdbc_orders", "TABLE"],
        ["main", "jdbc_points", "TABLE"],
    ]


def test_get_columns_gives_postgresql_types_sizes_and_nullability(jdbc: JdbcRun) -> None:
    columns = _rows(jdbc.values("columns"))
    # ORDINAL_POSITION, COLUMN_NAME, TYPE_NAME, DATA_TYPE, COLUMN_SIZE, DECIMAL_DIGITS, IS_NULLABLE
    assert [[*c[:4], c[6]] for c in columns] == [
        ["1", "id", "int4", str(INTEGER), "NO"],
        ["2", "name", "text", str(VARCHAR), "NO"],
        ["3", "joined", "timestamp", str(TIMESTAMP), "YES"],
        ["4", "score", "numeric", str(NUMERIC), "YES"],
    ]
    assert columns[3][4:6] == ["10", "2"]  # DECIMAL(10, 2): precision and scale


def test_get_primary_keys(jdbc: JdbcRun) -> None:
    assert _rows(jdbc.values("primary_keys")) == [
        ["jdbc_customers", "id", "1", "jdbc_customers_pkey"]
    ]


def test_get_schemas(jdbc: JdbcRun) -> None:
    schemas = jdbc.values("schemas")
    assert "main" in schemas and "pg_catalog" in schemas
    assert schemas == sorted(schemas)


def test_get_type_info_maps_postgresql_types_to_jdbc_types(jdbc: JdbcRun) -> None:
    types = dict(_rows(jdbc.values("type_info")))
    assert types["int4"] == str(INTEGER)
    assert types["int8"] == str(BIGINT)
    assert types["text"] == types["varchar"] == str(VARCHAR)
    assert types["numeric"] == str(NUMERIC)
    assert types["timestamp"] == str(TIMESTAMP)
    assert types["float8"] == str(DOUBLE)
    assert types["bool"] == str(BIT)


def test_get_imported_keys_finds_the_foreign_key(jdbc: JdbcRun) -> None:
    # pgjdbc first asks pg_settings for max_index_keys (a row it must have: 32 in
    # PostgreSQL), then joins pg_constraint to the referenced key's index by conindid.
    # PKTABLE_NAME, PKCOLUMN_NAME, FKTABLE_NAME, FKCOLUMN_NAME, KEY_SEQ
    assert _rows(jdbc.values("imported_keys")) == [
        ["jdbc_customers", "id", "jdbc_orders", "customer_id", "1"]
    ]


def test_get_index_info(jdbc: JdbcRun) -> None:
    # INDEX_NAME, COLUMN_NAME, NON_UNIQUE
    assert sorted(_rows(jdbc.values("index_info"))) == [
        ["jdbc_orders_amount", "amount", "t"],
        ["jdbc_orders_pkey", "id", "f"],
    ]


def test_prepared_statement_past_the_prepare_threshold(jdbc: JdbcRun) -> None:
    names = {1: "ann", 2: "bob", 3: "cy"}
    expected = [
        f"{run}=" + ",".join(f"{i}:{names[i]}#{run}" for i in names if i > run % 3)
        for run in range(10)
    ]
    assert jdbc.values("prepared") == expected
    # After five runs pgjdbc uses a named statement on the server.
    assert jdbc.values("prepared_server_side") == ["true"]


def test_fetch_size_reads_every_row_in_order_through_a_portal(jdbc: JdbcRun) -> None:
    assert jdbc.values("fetch_size") == ["1000 rows, in order"]


def test_result_columns_and_values_have_their_types(jdbc: JdbcRun) -> None:
    assert _rows(jdbc.values("typed_columns")) == [
        ["i", "int4", str(INTEGER)],
        ["d", "numeric", str(NUMERIC)],
        ["t", "text", str(VARCHAR)],
        ["ts", "timestamp", str(TIMESTAMP)],
        ["b", "bool", str(BIT)],
        ["missing", "text", str(VARCHAR)],
    ]
    assert jdbc.values("typed_row") == ["7|12.50|héllo|2024-01-02 03:04:05.0|true|null"]


def test_create_model_through_jdbc(jdbc: JdbcRun) -> None:
    # Statement.execute goes as Parse/Bind/Describe(portal)/Execute: the row CREATE MODEL
    # answers with must be described (RowDescription) before it comes.
    ((model, _version, algorithm),) = _rows(jdbc.values("train"))
    assert (model, algorithm) == ("jdbc_model", "logistic_regression")
    assert any("ready" in notice for notice in jdbc.values("train_notice"))


def test_predict_through_jdbc(jdbc: JdbcRun) -> None:
    ((rows, right),) = _rows(jdbc.values("predict"))
    assert int(rows) == 200 and int(right) > 180  # y is x > 4


def test_errors_are_sql_exceptions_with_sqlstates(jdbc: JdbcRun) -> None:
    assert jdbc.values("error") == ["42P01"]
    assert jdbc.values("error_prepared") == ["42703"]
    assert jdbc.values("after_error") == ["42"]


def test_node_postgres_queries_with_parameters(served: Served) -> None:
    if shutil.which("node") is None:
        pytest.skip("no node on PATH")
    if not (NODE / "node_modules" / "pg").is_dir():
        pytest.skip(f"node-postgres not installed: npm ci --prefix {NODE}")
    logged = len(served.log)
    ran = subprocess.run(
        ["node", str(NODE / "script.js"), str(served.port)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert ran.returncode == 0, (
        f"node-postgres failed:\n{ran.stderr}\nthe server's log meanwhile:\n"
        + "".join(served.log[logged:])
    )
    assert json.loads(ran.stdout) == {
        "plain": [{"answer": 42, "greeting": "héllo"}],
        "params": [{"n": 42, "s": "it's!"}],
        "named": [2, 4, 6],
        "error": "42P01",
        "after_error": [{"one": 1}],
    }
