"""COPY ... TO STDOUT and FROM STDIN through ``sqlml serve``: psql's \\copy and psycopg's
copy, in PostgreSQL's text and csv formats."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from serve_support import Served


@pytest.fixture
def table(served: Served) -> Iterator[str]:
    with served.connect() as con:
        con.execute("CREATE TABLE copied (id INTEGER, name VARCHAR, seen TIMESTAMP)")
    yield "copied"
    with served.connect() as con:
        con.execute("DROP TABLE copied")


def _psql(served: Served, *commands: str) -> str:
    arguments = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
    arguments += ["-p", str(served.port), "-U", "tester", "shop"]
    for command in commands:
        arguments += ["-c", command]
    return subprocess.run(arguments, capture_output=True, text=True, check=True, timeout=60).stdout


def test_psql_copies_to_and_from_files(served: Served, table: str, tmp_path: Path) -> None:
    csv_in = tmp_path / "in.csv"
    csv_in.write_text('id,name\n1,"a,b"\n2,\n3,""\n')
    text_in = tmp_path / "in.txt"
    text_in.write_text("7\tx\\ty\n8\t\\N\n")
    out = _psql(
        served,
        f"\\copy {table} (id, name) from '{csv_in}' with (format csv, header)",
        f"\\copy {table} (id, name) from '{text_in}'",
        f"UPDATE {table} SET seen = TIMESTAMP '2024-01-02 03:04:05.5' WHERE id = 1",
    )
    assert "COPY 3" in out and "COPY 2" in out
    with served.connect() as con:
        rows = con.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()
    # csv: an empty field is NULL, a quoted empty one is ''; text: \t is a tab, \N NULL.
    assert rows == [(1, "a,b"), (2, None), (3, ""), (7, "x\ty"), (8, None)]
    csv_out, text_out = tmp_path / "out.csv", tmp_path / "out.txt"
    _psql(
        served,
        f"\\copy (SELECT * FROM {table} ORDER BY id) to '{csv_out}' csv header",
        f"\\copy (SELECT * FROM {table} ORDER BY id) to '{text_out}'",
    )
    assert csv_out.read_text() == (
        'id,name,seen\n1,"a,b",2024-01-02 03:04:05.5\n2,,\n3,"",\n7,x\ty,\n8,,\n'
    )
    assert text_out.read_text() == (
        "1\ta,b\t2024-01-02 03:04:05.5\n2\t\\N\t\\N\n3\t\t\\N\n7\tx\\ty\t\\N\n8\t\\N\t\\N\n"
    )


def test_psycopg_copy_round_trips_rows(served: Served, table: str) -> None:
    rows = [(n, f"name {n}", dt.datetime(2024, 1, 1) + dt.timedelta(hours=n)) for n in range(500)]
    with served.connect() as con:
        with con.cursor().copy(f"COPY {table} (id, name, seen) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor = con.cursor()
        with cursor.copy(f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT") as copy:
            copy.set_types(["int4", "text", "timestamp"])
            back = list(copy.rows())
        assert back == rows
        assert cursor.rowcount == 500


def test_a_failed_copy_loads_nothing(served: Served, table: str) -> None:
    with served.connect() as con:
        copying = f"COPY {table} (id) FROM STDIN"
        with pytest.raises(psycopg.Error) as bad, con.cursor().copy(copying) as copy:
            copy.write(b"1\nnot a number\n")
        assert bad.value.sqlstate == "22P02"
        # The client gives up (CopyFail): the rows sent so far are dropped.
        with pytest.raises(RuntimeError), con.cursor().copy(copying) as copy:
            copy.write(b"1\n")
            raise RuntimeError("stop")
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        binary = f"COPY {table} FROM STDIN (FORMAT binary)"
        with pytest.raises(psycopg.Error) as unknown, con.cursor().copy(binary):
            pass
        assert unknown.value.sqlstate == "0A000"
