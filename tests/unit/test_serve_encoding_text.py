"""sqlml serve's results in PostgreSQL's text forms (sqlml/server/encoding.py): each type's
text byte for byte as PostgreSQL 15 prints it (the literal expectations below were read
from it; one test asks the server itself for many random values), NULLs as length -1, and
DataRows laid out the same whether a column pads into the row matrix or stays packed."""

from __future__ import annotations

import struct

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from servers import SERVER_DSN

from sqlml.server import encoding
from sqlml.server.pg_types import BY_NAME, ColumnType, from_duckdb


def texts(array: pa.Array, name: str) -> list[str | None]:
    lengths, data = encoding.encode_column(array, ColumnType(BY_NAME[name]), binary=False)
    out: list[str | None] = []
    at = 0
    for length in lengths.tolist():
        if length < 0:
            out.append(None)
        else:
            out.append(bytes(data[at : at + length]).decode())
            at += length
    assert at == data.size
    return out


FLOAT8 = [
    (0.0, "0"),
    (-0.0, "-0"),
    (0.1, "0.1"),
    (-1.5, "-1.5"),
    (100.0, "100"),
    (1e14, "100000000000000"),
    (123456789012345.6, "123456789012345.6"),
    (9.999999999999999e14, "999999999999999.9"),
    (1e15, "1e+15"),
    (1e16, "1e+16"),
    (1e20, "1e+20"),
    (1e100, "1e+100"),
    (1e-4, "0.0001"),
    (0.00012, "0.00012"),
    (1e-5, "1e-05"),
    (1.5e-5, "1.5e-05"),
    (1e-7, "1e-07"),
    (1e-100, "1e-100"),
    (5e-324, "5e-324"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1 / 3, "0.3333333333333333"),
    (12345678.9, "12345678.9"),
    # the shortest digits are halfway to the next float: PostgreSQL's Ryu takes one more
    (3.5970099669763968e16, "3.5970099669763968e+16"),
    (-7.1406533751761696e16, "-7.1406533751761696e+16"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
]

FLOAT4 = [
    (0.0, "0"),
    (1e5, "100000"),
    (123456.0, "123456"),
    (999999.0, "999999"),
    (1e6, "1e+06"),
    (1234567.0, "1.234567e+06"),
    (12345678.9, "1.2345679e+07"),
    (1e-4, "0.0001"),
    (1e-5, "1e-05"),
    (1.5e-45, "1e-45"),
    (3.4028235e38, "3.4028235e+38"),
    (1 / 3, "0.33333334"),
    (96550336.0, "9.6550336e+07"),  # halfway, as in float8
    (float("inf"), "Infinity"),
]


@pytest.mark.parametrize("filler", ["short decimals", "long digits"])
def test_float8_as_postgresql_prints_it(filler):
    """Both ways to the digits: numpy's for columns mostly of short decimals, Arrow's for
    the rest; the values under test are a few among many of either kind."""
    rng = np.random.default_rng(0)
    many = (
        np.round(rng.uniform(-1e6, 1e6, 200), 2) if filler == "short decimals" else rng.random(200)
    )
    values = [v for v, _ in FLOAT8] + [float("nan")]
    array = pa.array([*values, *many.tolist()], pa.float64())
    got = texts(array, "float8")
    assert got[: len(values)] == [t for _, t in FLOAT8] + ["NaN"]
    # below 1e15, Python's repr is PostgreSQL's text but for its '.0'
    assert got[len(values) :] == [repr(v).removesuffix(".0") for v in many.tolist()]


def test_float4_as_postgresql_prints_it():
    array = pa.array([v for v, _ in FLOAT4] + [float("nan")], pa.float32())
    assert texts(array, "float4") == [t for _, t in FLOAT4] + ["NaN"]


def test_floats_with_nulls():
    for numbers in ([0.5, None, -2.25, None], [1 / 3, None, 1e-300, None]):
        got = texts(pa.array(numbers, pa.float64()), "float8")
        assert got == [None if v is None else repr(v) for v in numbers]


def test_integers():
    cases = {
        pa.int16(): [0, -1, 32767, -32768, None],
        pa.int32(): [7, -2147483648, 2147483647, None, -10],
        pa.int64(): [-(2**63), 2**63 - 1, 0, None, 1000000],
        pa.uint8(): [0, 255],
        pa.uint32(): [4294967295, 1],
        pa.uint64(): [2**64 - 1, 0],
    }
    for kind, numbers in cases.items():
        got = texts(pa.array(numbers, kind), "int8")
        assert got == [None if v is None else str(v) for v in numbers]


def test_booleans_and_all_nulls():
    assert texts(pa.array([True, False, None]), "bool") == ["t", "f", None]
    assert texts(pa.array([None, None], pa.int32()), "int4") == [None, None]
    assert texts(pa.array([None, None], pa.null()), "text") == [None, None]


def micros(text: str) -> int:
    """Microseconds since 1970 of 'YYYY-MM-DD HH:MM:SS[.f]' in years 1..9999 (UTC)."""
    import datetime as dt

    when = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def test_timestamps():
    day = 86_400_000_000
    values = {
        micros("2024-01-01 00:00:00"): "2024-01-01 00:00:00",
        micros("2024-01-01 12:34:56.5"): "2024-01-01 12:34:56.5",
        micros("2024-01-01 12:34:56.123450"): "2024-01-01 12:34:56.12345",
        micros("2024-01-01 12:34:56.000001"): "2024-01-01 12:34:56.000001",
        micros("1969-12-31 23:59:59.999999"): "1969-12-31 23:59:59.999999",
        micros("0001-01-01 00:00:00"): "0001-01-01 00:00:00",
        micros("9999-12-31 23:59:59"): "9999-12-31 23:59:59",
    }
    array = pa.array([*values, None], pa.timestamp("us"))
    assert texts(array, "timestamp") == [*values.values(), None]
    far = {  # years PostgreSQL prints with more digits or as BC
        micros("0001-01-01 00:00:00") - day // 2: "0001-12-31 12:00:00 BC",
        micros("0001-01-01 00:00:00") - 366 * day - 1: "0002-12-31 23:59:59.999999 BC",
        -210866803200000000: "4714-11-24 00:00:00 BC",
        micros("9999-12-31 00:00:00") + 2 * day: "10000-01-02 00:00:00",
        9223371331199999999: "294247-01-01 23:59:59.999999",
        9000000000000000000: "287168-08-24 16:00:00",
        2**63 - 1: "infinity",
        -(2**63 - 1): "-infinity",
    }
    array = pa.array([*far, None, micros("2024-01-01 00:00:01.25")], pa.timestamp("us"))
    assert texts(array, "timestamp") == [*far.values(), None, "2024-01-01 00:00:01.25"]


def test_timestamps_of_other_units():
    second = pa.array([1704067200, None], pa.timestamp("s"))
    assert texts(second, "timestamp") == ["2024-01-01 00:00:00", None]
    nano = pa.array([1704067200123456789], pa.timestamp("ns"))
    assert texts(nano, "timestamp") == ["2024-01-01 00:00:00.123456"]  # as DuckDB's cast


def test_timestamptz_in_the_session_zone():
    instants = [micros("2024-06-01 12:00:00.5"), micros("1900-01-01 00:00:00"), 2**63 - 1]
    expected = {
        "UTC": ["2024-06-01 12:00:00.5+00", "1900-01-01 00:00:00+00", "infinity"],
        "Etc/UTC": ["2024-06-01 12:00:00.5+00", "1900-01-01 00:00:00+00", "infinity"],
        "Asia/Kolkata": ["2024-06-01 17:30:00.5+05:30", "1900-01-01 05:21:10+05:21:10"],
        "America/New_York": ["2024-06-01 08:00:00.5-04", "1899-12-31 19:00:00-05"],
        "Europe/Paris": ["2024-06-01 14:00:00.5+02", "1900-01-01 00:09:21+00:09:21"],
        "Pacific/Chatham": ["2024-06-02 00:45:00.5+12:45", "1900-01-01 12:15:00+12:15"],
    }
    for zone, want in expected.items():
        array = pa.array([*instants[: len(want)], None], pa.timestamp("us", zone))
        assert texts(array, "timestamptz") == [*want, None], zone


def test_dates():
    values = {
        0: "1970-01-01",
        19_723: "2024-01-01",
        -719_162: "0001-01-01",
        -719_163: "0001-12-31 BC",
        -735_160: "0044-03-15 BC",
        2_932_897: "10000-01-01",
        105_200_797: "290000-01-01",
        2**31 - 1: "infinity",
        -(2**31 - 1): "-infinity",
    }
    array = pa.array([*values, None], pa.date32())
    assert texts(array, "date") == [*values.values(), None]
    few_days = pa.array([19_723 + i % 3 for i in range(100)] + [None], pa.date32())
    assert texts(few_days, "date")[:4] == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01"]


def test_times():
    values = {
        0: "00:00:00",
        45_296_000_000: "12:34:56",
        45_296_500_000: "12:34:56.5",
        86_399_999_999: "23:59:59.999999",
        86_400_000_000: "24:00:00",
    }
    array = pa.array([*values, None], pa.time64("us"))
    assert texts(array, "time") == [*values.values(), None]
    assert texts(pa.array([3661], pa.time32("s")), "time") == ["01:01:01"]


# -- DataRows ----------------------------------------------------------------------------------


def reference_rows(batch: pa.RecordBatch, columns: list[ColumnType], binary: list[bool]) -> bytes:
    """DataRows assembled one value at a time from encode_column's output."""
    encoded = [
        encoding.encode_column(batch.column(i), columns[i], binary[i])
        for i in range(batch.num_columns)
    ]
    starts = [0] * len(encoded)
    out = bytearray()
    for row in range(batch.num_rows):
        body = struct.pack("!h", len(encoded))
        for i, (lengths, data) in enumerate(encoded):
            length = int(lengths[row])
            body += struct.pack("!i", length)
            if length > 0:
                body += bytes(data[starts[i] : starts[i] + length])
                starts[i] += length
        out += b"D" + struct.pack("!i", len(body) + 4) + body
    return bytes(out)


@pytest.mark.parametrize("long_at", [None, 0, 2, 5])
@pytest.mark.parametrize("binary", [False, True])
def test_data_rows_match_value_by_value(long_at, binary):
    """A column of a few long strings among short ones stays packed (Arrow joins each
    row's pieces around it); the rows are the same bytes either way."""
    rng = np.random.default_rng(1)
    rows = 300
    short = [None if i % 7 == 0 else f"row {i}" for i in range(rows)]
    if long_at is not None:
        short[long_at + 1] = "x" * 5000
    arrays = {
        "i": pa.array([None if i % 11 == 0 else i - 150 for i in range(rows)], pa.int32()),
        "d": pa.array([None if i % 5 == 0 else float(v) for i, v in enumerate(rng.random(rows))]),
        "t": pa.array(short, pa.string()),
        "ts": pa.array(
            [None if i % 13 == 0 else 1704067200000000 + i * 1_250_000 for i in range(rows)],
            pa.timestamp("us"),
        ),
        "b": pa.array([None if i % 3 == 0 else i % 2 == 0 for i in range(rows)]),
        "e": pa.array([""] * rows, pa.string()),
        "n": pa.array([None] * rows, pa.int64()),
    }
    names = list(arrays)
    if long_at is not None:  # move the string column to the place under test
        names.remove("t")
        names.insert(long_at, "t")
    batch = pa.record_batch([arrays[n] for n in names], names=names)
    kinds = {"i": "INTEGER", "d": "DOUBLE", "t": "VARCHAR", "ts": "TIMESTAMP"}
    kinds |= {"b": "BOOLEAN", "e": "VARCHAR", "n": "BIGINT"}
    columns = [from_duckdb(kinds[n]) for n in names]
    formats = [binary and n != "t" for n in names]
    assert encoding.data_rows(batch, columns, formats) == reference_rows(batch, columns, formats)


def test_no_rows_are_no_bytes():
    batch = pa.record_batch([pa.array([], pa.int32())], names=["i"])
    assert encoding.data_rows(batch, [from_duckdb("INTEGER")], [False]) == b""


# -- against PostgreSQL itself ------------------------------------------------------------------


def postgres_texts(sql: str, values: list) -> list[str]:
    with psycopg.connect(SERVER_DSN) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, [values])
        return [row[0] for row in cursor]


ORDERED = "WITH ORDINALITY AS u(v, n) ORDER BY n"


@pytest.mark.postgres
def test_random_values_print_as_in_postgresql():
    rng = np.random.default_rng(2)
    doubles = np.concatenate(
        [
            rng.integers(0, 2**64, 20_000, dtype=np.uint64).view(np.float64),
            rng.integers(1, 1000, 5000) * 10.0 ** rng.integers(-12, 25, 5000),
            np.round(rng.uniform(-1e6, 1e6, 5000), 3),
        ]
    )
    doubles = doubles[~np.isnan(doubles)]
    want = postgres_texts(f"SELECT v::text FROM unnest(%b::float8[]) {ORDERED}", doubles.tolist())
    assert texts(pa.array(doubles), "float8") == want
    singles = rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    singles = singles[~np.isnan(singles)]
    want = postgres_texts(
        f"SELECT v::float4::text FROM unnest(%b::float8[]) {ORDERED}",
        singles.astype(np.float64).tolist(),
    )
    assert texts(pa.array(singles), "float4") == want
    stamps = np.concatenate(
        [
            rng.integers(-210866803200000000, 2**63 - 2, 5000),
            rng.integers(-62135596800000000, 253402300800000000, 5000),
            1704067200000000 + rng.integers(0, 86400, 5000) * 1_000_000,
        ]
    )
    want = postgres_texts(
        "SELECT ('1970-01-01'::timestamp + (v / 86400000000) * interval '1 day'"
        " + (v %% 86400000000) * interval '1 microsecond')::text"
        f" FROM unnest(%b::int8[]) {ORDERED}",
        stamps.tolist(),
    )
    assert texts(pa.array(stamps, pa.timestamp("us")), "timestamp") == want
    days = rng.integers(-2440588, 2913930, 10_000).astype(np.int32)
    want = postgres_texts(
        f"SELECT ('1970-01-01'::date + v)::text FROM unnest(%b::int4[]) {ORDERED}", days.tolist()
    )
    assert texts(pa.array(days, pa.date32()), "date") == want
