"""Which PostgreSQL server the tests use: SQLML_TEST_DSN, else libpq's PG* variables, else
the local server as user postgres."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

SERVER_DSN = os.environ.get("SQLML_TEST_DSN") or (
    f"postgresql://{os.environ.get('PGUSER', 'postgres')}@{os.environ.get('PGHOST', '127.0.0.1')}"
    f":{os.environ.get('PGPORT', '5432')}/{os.environ.get('PGDATABASE', 'postgres')}"
)

# The database the suite creates and installs sqlml into; another name lets two runs of the
# suite share one server.
TEST_DATABASE = os.environ.get("SQLML_TEST_DATABASE", "sqlml_test")


def dsn_for(database: str, user: str | None = None) -> str:
    """SERVER_DSN (a postgresql:// URL) with another database (and, for trust auth, user)."""
    parts = urlsplit(SERVER_DSN)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    return parts._replace(netloc=netloc, path=f"/{database}").geturl()


_PG_TYPES = {
    "b": "boolean",
    "i": "bigint",
    "u": "bigint",
    "f": "double precision",
    "M": "timestamp",
}


def load(conn: psycopg.Connection, name: str, frame: pd.DataFrame) -> str:
    """A pandas frame as a real table (bigint, double precision, boolean, timestamp, text)."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(
            sql.Identifier(c), sql.SQL(_PG_TYPES.get(frame[c].dtype.kind, "text"))
        )
        for c in frame.columns
    )
    table = sql.Identifier(name)
    with conn.transaction():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
            for row in frame.itertuples(index=False):
                copy.write_row([_plain(v) for v in row])
    return name


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def reset(conn: psycopg.Connection) -> None:
    """An empty public schema and no models: where every PostgreSQL test starts."""
    conn.execute("RESET ALL")
    # Views on PREDICT depend on the models' functions: drop them (with public) first.
    conn.execute("DROP SCHEMA public CASCADE")
    conn.execute("CREATE SCHEMA public")
    conn.execute("GRANT ALL ON SCHEMA public TO PUBLIC")
    # A model's kept search trials (m.trial_N) go with it.
    names = conn.execute("SELECT name FROM sqlml.model_registry").fetchall()
    for (name,) in sorted(names, key=lambda row: len(row[0]), reverse=True):
        conn.execute("SELECT sqlml.drop_model(%s)", [name])
    # Feature tables' data went with public; their definitions must go too.
    if conn.execute("SELECT to_regclass('sqlml.feature_tables')").fetchone()[0] is not None:
        conn.execute("DELETE FROM sqlml.feature_tables")
    # Runs outlive their models: the history of earlier tests goes too.
    if conn.execute("SELECT to_regclass('sqlml.runs')").fetchone()[0] is not None:
        conn.execute("DELETE FROM sqlml.runs")
