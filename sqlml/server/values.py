"""One value at a time, in PostgreSQL's text and binary forms, and back.

For what has no vectorised path (intervals, numerics in binary, arrays, structs) and for
parameters, which come one by one anyway. Large results go through ``encoding``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
import uuid
from collections.abc import Callable
from typing import Any

from sqlml.server.pg_types import BY_OID, ELEMENT_OF, PgType

PG_EPOCH = dt.datetime(2000, 1, 1)
PG_EPOCH_UTC = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
PG_EPOCH_DATE = dt.date(2000, 1, 1)
_NUMERIC_NAN = 0xC000


class BadValue(ValueError):
    """A parameter the client sent cannot be read as the type it said."""

    sqlstate = "22P02"


# -- to text -------------------------------------------------------------------------------


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """PostgreSQL's IntervalStyle postgres: '1 year 2 mons 3 days 04:05:06.5'."""
    parts = []
    years, mons = divmod(abs(months), 12)
    sign = "-" if months < 0 else ""
    if years:
        parts.append(f"{sign}{years} year{'s' if years != 1 else ''}")
    if mons:
        parts.append(f"{sign}{mons} mon{'s' if mons != 1 else ''}")
    if days:
        parts.append(f"{days} day{'s' if abs(days) != 1 else ''}")
    micros = nanoseconds // 1000
    if micros or not parts:
        negative = micros < 0
        seconds, fraction = divmod(abs(micros), 1_000_000)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        if fraction:
            clock += f".{fraction:06d}".rstrip("0")
        parts.append(("-" if negative else "") + clock)
    return " ".join(parts)


def _clock_text(value: dt.datetime | dt.time) -> str:
    """As PostgreSQL prints them: no trailing zeros in the fraction, '+00' for UTC."""
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    offset = ""
    if value.tzinfo is not None and len(text) > 6 and text[-6] in "+-":
        text, offset = text[:-6], text[-6:].removesuffix(":00")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + offset


def _array_element(text: str) -> str:
    if text == "" or text.upper() == "NULL" or any(c in text for c in ' ,{}"\\\t\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def text_value(value: Any) -> str:
    """A Python value (as Arrow's to_pylist gives it) in PostgreSQL's text form."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value).removesuffix(".0")
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dt.datetime | dt.time):
        return _clock_text(value)
    if isinstance(value, dt.timedelta):
        return interval_text(0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000)
    if type(value).__name__ == "MonthDayNano":
        return interval_text(value.months, value.days, value.nanoseconds)
    if isinstance(value, list):
        items = ["NULL" if v is None else _array_element(text_value(v)) for v in value]
        return "{" + ",".join(items) + "}"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


# -- to binary -----------------------------------------------------------------------------


def numeric_binary(value: decimal.Decimal) -> bytes:
    """PostgreSQL's numeric wire form: digit count, weight, sign, scale, base-10000 digits."""
    if value.is_nan():
        return struct.pack("!hhHh", 0, 0, _NUMERIC_NAN, 0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    text = "".join(map(str, digits))
    if exponent > 0:
        text += "0" * exponent
        exponent = 0
    whole = text[: len(text) + exponent] if exponent else text
    fraction = text[len(text) + exponent :] if exponent else ""
    whole = whole.lstrip("0")
    whole = whole.zfill((len(whole) + 3) // 4 * 4)
    fraction = fraction.ljust((len(fraction) + 3) // 4 * 4, "0")
    groups = [int(whole[i : i + 4]) for i in range(0, len(whole), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(
        f"!hhHh{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, scale, *groups
    )


def _binary_scalar(value: Any, kind: PgType) -> bytes:
    name = kind.name
    if name == "bool":
        return b"\x01" if value else b"\x00"
    if name in ("int2", "int4", "int8", "oid", "regclass", "regtype", "regproc"):
        code = {"int2": "!h", "int4": "!i", "int8": "!q"}.get(name, "!I")
        return struct.pack(code, int(value))
    if name in ("float4", "float8"):
        return struct.pack("!f" if name == "float4" else "!d", float(value))
    if name == "numeric":
        return numeric_binary(decimal.Decimal(value))
    if name == "bytea":
        return bytes(value)
    if name == "date":
        return struct.pack("!i", (value - PG_EPOCH_DATE).days)
    if name == "time":
        return struct.pack(
            "!q",
            ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond,
        )
    if name in ("timestamp", "timestamptz"):
        epoch = PG_EPOCH_UTC if value.tzinfo is not None else PG_EPOCH
        delta = value - epoch
        return struct.pack(
            "!q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        )
    if name == "interval":
        if isinstance(value, dt.timedelta):
            micros = value.seconds * 1_000_000 + value.microseconds
            return struct.pack("!qii", micros, value.days, 0)
        return struct.pack("!qii", value.nanoseconds // 1000, value.days, value.months)
    if name == "uuid":
        return uuid.UUID(str(value)).bytes
    if name == "jsonb":
        return b"\x01" + text_value(value).encode()
    if kind.array_oid == 0 and kind.oid in ELEMENT_OF:
        return array_binary(value, ELEMENT_OF[kind.oid])
    return text_value(value).encode()


def array_binary(values: list, element: PgType) -> bytes:
    """A one-dimensional array: dimensions, null flag, element type, then each element."""
    parts = [struct.pack("!iiIii", 1, int(None in values), element.oid, len(values), 1)]
    for v in values:
        if v is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            data = _binary_scalar(v, element)
            parts.append(struct.pack("!i", len(data)) + data)
    return b"".join(parts)


def binary_value(value: Any, kind: PgType, element: PgType | None = None) -> bytes:
    if element is not None:
        return array_binary(value, element)
    return _binary_scalar(value, kind)


# -- parameters: from the client -----------------------------------------------------------


def _bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("t", "true", "y", "yes", "on", "1"):
        return True
    if lowered in ("f", "false", "n", "no", "off", "0"):
        return False
    raise BadValue(f'invalid input syntax for type boolean: "{text}"')


def _timestamp_text(text: str) -> dt.datetime:
    cleaned = text.strip().replace("T", " ", 1)
    if len(cleaned) >= 3 and cleaned[-3] in "+-" and cleaned[-2:].isdigit():
        cleaned += ":00"  # PostgreSQL's "+00" offset
    return dt.datetime.fromisoformat(cleaned)


def _bytea_text(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    return text.encode()


_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "bool": _bool_text,
    "int2": int,
    "int4": int,
    "int8": int,
    "oid": int,
    "float4": float,
    "float8": float,
    "numeric": decimal.Decimal,
    "bytea": _bytea_text,
    "date": lambda t: dt.date.fromisoformat(t.strip()),
    "time": lambda t: dt.time.fromisoformat(t.strip()),
    "timestamp": _timestamp_text,
    "timestamptz": _timestamp_text,
    "uuid": uuid.UUID,
}


def _numeric_from_binary(data: bytes) -> decimal.Decimal:
    count, weight, sign, scale = struct.unpack_from("!hhHh", data)
    if sign == _NUMERIC_NAN:
        return decimal.Decimal("NaN")
    groups = struct.unpack_from(f"!{count}H", data, 8)
    value = decimal.Decimal(0)
    for i, group in enumerate(groups):
        value += decimal.Decimal(group).scaleb(4 * (weight - i))
    value = value.quantize(decimal.Decimal(1).scaleb(-scale)) if scale else value
    return -value if sign == 0x4000 else value


def _array_from_binary(data: bytes) -> list:
    dims, _, element_oid = struct.unpack_from("!iiI", data)
    if dims == 0:
        return []
    if dims != 1:
        raise BadValue("only one-dimensional arrays are supported as parameters")
    (size, _) = struct.unpack_from("!ii", data, 12)
    at = 20
    items: list[Any] = []
    for _ in range(size):
        (length,) = struct.unpack_from("!i", data, at)
        at += 4
        if length == -1:
            items.append(None)
            continue
        items.append(from_binary(data[at : at + length], element_oid))
        at += length
    return items


_FROM_BINARY: dict[str, Callable[[bytes], Any]] = {
    "bool": lambda d: d != b"\x00",
    "int2": lambda d: struct.unpack("!h", d)[0],
    "int4": lambda d: struct.unpack("!i", d)[0],
    "int8": lambda d: struct.unpack("!q", d)[0],
    "oid": lambda d: struct.unpack("!I", d)[0],
    "float4": lambda d: struct.unpack("!f", d)[0],
    "float8": lambda d: struct.unpack("!d", d)[0],
    "numeric": _numeric_from_binary,
    "bytea": bytes,
    "date": lambda d: PG_EPOCH_DATE + dt.timedelta(days=struct.unpack("!i", d)[0]),
    "time": lambda d: (
        dt.datetime.min + dt.timedelta(microseconds=struct.unpack("!q", d)[0])
    ).time(),
    "timestamp": lambda d: PG_EPOCH + dt.timedelta(microseconds=struct.unpack("!q", d)[0]),
    "timestamptz": lambda d: PG_EPOCH_UTC + dt.timedelta(microseconds=struct.unpack("!q", d)[0]),
    "interval": lambda d: _interval_from_binary(d),
    "uuid": lambda d: uuid.UUID(bytes=d),
    "jsonb": lambda d: d[1:].decode(),
}


def _interval_from_binary(data: bytes) -> dt.timedelta:
    micros, days, months = struct.unpack("!qii", data)
    if months:
        raise BadValue("an interval parameter with months cannot be bound (DuckDB's Python API)")
    return dt.timedelta(days=days, microseconds=micros)


def from_text(text: str, oid: int) -> Any:
    kind = BY_OID.get(oid)
    parse = _FROM_TEXT.get(kind.name) if kind else None
    if kind is None or parse is None:
        return text  # untyped: DuckDB casts a string parameter as the query needs
    try:
        return parse(text)
    except (ValueError, decimal.InvalidOperation, ArithmeticError):
        raise BadValue(f'invalid input syntax for type {kind.name}: "{text}"') from None


def from_binary(data: bytes, oid: int) -> Any:
    if oid in ELEMENT_OF:
        return _array_from_binary(data)
    if oid == 0:
        return data.decode()  # described as text (protocol.Conversation's Describe)
    kind = BY_OID.get(oid)
    if kind is None:
        raise BadValue(f"cannot read a binary parameter of unknown type (OID {oid})")
    parse = _FROM_BINARY.get(kind.name)
    if parse is None:
        return data.decode()
    try:
        return parse(data)
    except (struct.error, ValueError, OverflowError):
        raise BadValue(f"invalid binary value for type {kind.name}") from None
