"""What the PostgreSQL benchmarks share: scratch databases, binary COPY, the server's CPU and
memory, and the lines that scratch PL/Python functions start with.

- ``create_database`` / ``drop_database``: a throwaway database with sqlml installed in it.
- ``load_table`` / ``copy_table``: an Arrow table into PostgreSQL by one binary COPY built
  by numpy (``copy_payload``); ``copy_out`` / ``parse_copy`` / ``copy_out_matrix`` read a
  binary COPY back.
- ``ServerCpu``: CPU seconds of the whole server, for ``_harness.measure(server=...)``;
  ``process_cpu_seconds`` / ``process_rss_mb`` / ``process_peak_rss_mb``: one backend's.
- ``server_settings``, ``backend_pid``, ``server_prelude`` / ``bench_schema``.
"""

from __future__ import annotations

import json
import os
import struct
import time
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks._harness import status_mb

ADMIN_DSN = "postgresql://postgres@127.0.0.1/postgres"
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- scratch databases -------------------------------------------------------------------


def database_dsn(admin_dsn: str, database: str) -> str:
    """The admin URL with another database (sqlml.connect tells engines apart by URL)."""
    from urllib.parse import quote, urlsplit

    return urlsplit(admin_dsn)._replace(path="/" + quote(database)).geturl()


def create_database(admin_dsn: str, database: str) -> str:
    """Drop and create ``database``, install sqlml in it; its DSN."""
    import sqlml.install

    drop_database(admin_dsn, database)
    _admin(admin_dsn, "CREATE DATABASE {}", database)
    dsn = database_dsn(admin_dsn, database)
    sqlml.install.install(dsn, report=lambda _: None)
    return dsn


def drop_database(admin_dsn: str, database: str) -> None:
    _admin(admin_dsn, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


def _admin(admin_dsn: str, statement: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement.format(psycopg.sql.Identifier(database).as_string(conn)))


def server_settings(conn: Any) -> dict[str, str]:
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "jit",
        "max_parallel_workers_per_gather",
        "max_parallel_workers",
        "synchronize_seqscans",
        "wal_level",
    )
    return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}


def backend_pid(conn: Any) -> int:
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def server_prelude(conn: Any) -> str:
    """The lines sqlml's own PL/Python bodies start with in this database (its Python path,
    then ``handoff``: sqlml.in_server), for scratch functions that call into sqlml."""
    from sqlml._udfs_loader import udfs

    row = conn.execute("SELECT value FROM sqlml.catalog_info WHERE key = 'python_path'").fetchone()
    return udfs.pg_functions.prelude(json.loads(row[0]) if row else [])


def bench_schema(conn: Any) -> None:
    """A fresh schema ``bench`` for scratch functions and tables (nothing of sqlml's)."""
    conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
    conn.execute("CREATE SCHEMA bench")


# -- binary COPY -------------------------------------------------------------------------


def copy_payload(columns: list[tuple[np.ndarray, str]]) -> bytes:
    """PostgreSQL's binary COPY format for NOT NULL fixed-width columns given as
    (values, big-endian numpy type such as '>f8', '>i8' or '>i4')."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, (_, kind) in enumerate(columns):
        fields += [(f"size{i}", ">i4"), (f"value{i}", kind)]
    rows = np.empty(len(columns[0][0]), dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for i, (values, kind) in enumerate(columns):
        rows[f"size{i}"] = np.dtype(kind).itemsize
        rows[f"value{i}"] = values
    return COPY_SIGNATURE + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)


def copy_table(conn: Any, name: str, table: pa.Table) -> None:
    """DROP, CREATE TABLE ``name`` and one binary COPY of ``table``: integers as int4,
    timestamps as timestamp, the rest float8, all NOT NULL (a NULL float travels as NaN)."""
    definitions, columns = [], []
    for field in table.schema:
        values = table.column(field.name)
        if pa.types.is_integer(field.type):
            sql_type, column = "int4", (values.to_numpy(), ">i4")
        elif pa.types.is_timestamp(field.type):
            micros = values.cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
            sql_type, column = "timestamp", (micros - _PG_EPOCH_US, ">i8")
        else:
            sql_type, column = "float8", (values.to_numpy(zero_copy_only=False), ">f8")
        definitions.append(f'"{field.name}" {sql_type} NOT NULL')
        columns.append(column)
    conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    conn.execute(f'CREATE TABLE "{name}" ({", ".join(definitions)})')
    with conn.cursor() as cursor, cursor.copy(f'COPY "{name}" FROM STDIN (FORMAT BINARY)') as cp:
        cp.write(copy_payload(columns))


def load_table(dsn: str, table: pa.Table, name: str = "t") -> float:
    """``copy_table`` in a connection of its own, then VACUUM ANALYZE; seconds."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        copy_table(conn, name, table)
        conn.execute(f'VACUUM ANALYZE "{name}"')
    return time.perf_counter() - start


def copy_out(conn: Any, query: str) -> bytearray:
    """``COPY (query) TO STDOUT (FORMAT BINARY)``, all of it."""
    out = bytearray()
    with conn.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for data in copy:
            out += data
    return out


def parse_copy(buffer: bytes | bytearray, sizes: list[int]) -> list[np.ndarray]:
    """The columns of a binary COPY of NOT NULL fixed-width columns (byte sizes ``sizes``),
    as big-endian views into ``buffer`` (float8 for 8 bytes, int4 for 4)."""
    if bytes(buffer[:11]) != COPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    start = 19 + struct.unpack_from(">i", buffer, 15)[0]
    width = 2 + sum(4 + s for s in sizes)
    n = (len(buffer) - start - 2) // width
    if start + n * width + 2 != len(buffer) or bytes(buffer[-2:]) != b"\xff\xff":
        raise ValueError("unexpected binary COPY layout (NULLs or variable-width values?)")
    if (np.ndarray((n,), ">i2", buffer, start, (width,)) != len(sizes)).any():
        raise ValueError("unexpected field count")
    columns, offset = [], start + 2
    for size in sizes:
        if (np.ndarray((n,), ">i4", buffer, offset, (width,)) != size).any():
            raise ValueError("a NULL or a value of another size")
        kind = {8: ">f8", 4: ">i4"}[size]
        columns.append(np.ndarray((n,), kind, buffer, offset + 4, (width,)))
        offset += 4 + size
    return columns


def copy_out_matrix(conn: Any, query: str, width: int) -> np.ndarray:
    """A query of ``width`` NOT NULL float8 columns as one float32 [n, width] matrix."""
    buffer = copy_out(conn, query)
    start = 19 + struct.unpack_from(">i", buffer, 15)[0]
    columns = parse_copy(buffer, [8] * width)  # checks the layout: no NULLs, all float8
    n = len(columns[0])
    # The float8 values as one strided [n, width] view, converted in one pass.
    values = np.ndarray((n, width), ">f8", buffer, start + 6, (2 + 12 * width, 12))
    return values.astype(np.float32)


# -- the server's CPU and memory -----------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK if fields else float("nan")


def process_peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set."""
    return status_mb(f"/proc/{pid}/status", "VmHWM") or float("nan")


def process_rss_mb(pid: int) -> float:
    return status_mb(f"/proc/{pid}/status") or float("nan")


class ServerCpu:
    """CPU seconds of the whole PostgreSQL server: the postmaster's children (backends,
    parallel workers, background processes) plus what the postmaster has reaped."""

    def __init__(self, backend_pid: int):
        fields = _proc_stat(backend_pid)
        self.postmaster = int(fields[1]) if fields else None

    @property
    def available(self) -> bool:
        return self.postmaster is not None

    def seconds(self) -> float:
        if self.postmaster is None:
            return 0.0
        own = _proc_stat(self.postmaster)
        ticks = sum(int(v) for v in own[11:15]) if own else 0  # utime stime cutime cstime
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields and int(fields[1]) == self.postmaster:
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / _CLK_TCK
