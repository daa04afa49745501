"""Arrow record batches as DataRow messages, a column at a time.

Each column becomes a pair (lengths, bytes): one length per row (-1 for NULL) and the
values' bytes back to back. Arrow computes the text forms and numpy the binary ones; the
rows are then laid out with one scatter per column, so no Python code runs per value except
for the few types that have no vectorised form (intervals, arrays, binary numerics).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlml.server import values
from sqlml.server.pg_types import ColumnType

Encoded = tuple[np.ndarray, np.ndarray]  # (int64 lengths with -1 for NULL, uint8 bytes)

_PG_EPOCH_MICROS = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957


def _valid(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _from_strings(array: pa.Array) -> Encoded:
    """A string or binary array's own buffers: no copy of the values."""
    valid = _valid(array)
    if array.null_count:
        array = pc.fill_null(
            array, pa.scalar(b"" if pa.types.is_binary(array.type) else "", array.type)
        )
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offset_type = np.dtype(np.int64 if large else np.int32)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets).astype(np.int64)
    lengths[~valid] = -1
    return lengths, data


def _fixed(array: pa.Array, dtype: str, shift: int = 0) -> Encoded:
    """Fixed-width big-endian numbers (ints, floats, days, microseconds)."""
    valid = _valid(array)
    numbers = np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False))
    if shift:
        numbers = numbers - shift
    width = np.dtype(dtype).itemsize
    data = numbers[valid].astype(dtype).view(np.uint8)
    return np.where(valid, width, -1).astype(np.int64), data


def _per_value(array: pa.Array, encode: Callable[[object], bytes]) -> Encoded:
    items = array.to_pylist()
    lengths = np.full(len(items), -1, dtype=np.int64)
    pieces = []
    for i, item in enumerate(items):
        if item is not None:
            piece = encode(item)
            lengths[i] = len(piece)
            pieces.append(piece)
    return lengths, np.frombuffer(b"".join(pieces), dtype=np.uint8)


def _replace(array: pa.Array, pattern: str, replacement: str) -> pa.Array:
    return pc.replace_substring_regex(array, pattern=pattern, replacement=replacement)


def _as_micros(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type) and array.type.unit != "us":
        return pc.cast(array, pa.timestamp("us", array.type.tz), safe=False)
    if pa.types.is_time(array.type) and (array.type.unit != "us"):
        return pc.cast(array, pa.time64("us"), safe=False)
    return array


def _text(array: pa.Array, column: ColumnType) -> Encoded:
    name = column.type.name
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), -1, dtype=np.int64), np.zeros(0, np.uint8)
    if column.array_of is not None or pa.types.is_nested(kind) or pa.types.is_interval(kind):
        return _per_value(array, lambda v: values.text_value(v).encode())
    if pa.types.is_boolean(kind):
        valid = _valid(array)
        flags = np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False))
        data = np.where(flags, ord("t"), ord("f")).astype(np.uint8)[valid]
        return np.where(valid, 1, -1).astype(np.int64), data
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return _per_value(array, lambda v: values.text_value(v).encode())
    if pa.types.is_timestamp(kind):
        array = _as_micros(array)
        if kind.tz is None:
            text = _replace(pc.cast(array, pa.string()), r"\.?0+$", "")
        else:
            text = pc.strftime(array, format="%Y-%m-%d %H:%M:%S%z")
            text = _replace(text, r"\.?0+([+-]\d{4})$", r"\1")
            text = _replace(_replace(text, r"([+-]\d\d)00$", r"\1"), r"([+-]\d\d)(\d\d)$", r"\1:\2")
        return _from_strings(text)
    if pa.types.is_time(kind):
        return _from_strings(_replace(pc.cast(_as_micros(array), pa.string()), r"\.?0+$", ""))
    if pa.types.is_dictionary(kind):
        array = pc.cast(array, pa.string())
    if pa.types.is_floating(kind):
        text = pc.cast(array, pa.string())
        if name in ("float4", "float8") and pc.any(pc.invert(pc.is_finite(array))).as_py():
            text = _replace(
                _replace(_replace(text, "^inf$", "Infinity"), "^-inf$", "-Infinity"), "^nan$", "NaN"
            )
        return _from_strings(text)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _from_strings(array)
    return _from_strings(pc.cast(array, pa.string()))


_FIXED_BINARY = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
    "oid": ">u4",
}


def _binary(array: pa.Array, column: ColumnType) -> Encoded:
    name = column.type.name
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), -1, dtype=np.int64), np.zeros(0, np.uint8)
    if column.array_of is None and not pa.types.is_nested(kind):
        if name in _FIXED_BINARY and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            return _fixed(array, _FIXED_BINARY[name])
        if name == "bool" and pa.types.is_boolean(kind):
            return _fixed(pc.cast(array, pa.uint8()), "u1")
        if name in ("timestamp", "timestamptz") and pa.types.is_timestamp(kind):
            return _fixed(pc.cast(_as_micros(array), pa.int64()), ">i8", _PG_EPOCH_MICROS)
        if name == "date" and pa.types.is_date32(kind):
            return _fixed(pc.cast(array, pa.int32()), ">i4", _PG_EPOCH_DAYS)
        if name == "time" and pa.types.is_time(kind):
            return _fixed(pc.cast(_as_micros(array), pa.int64()), ">i8")
        if name in ("text", "varchar", "json", "name", "bpchar", "bytea") and (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            return _from_strings(array)
        if name in ("text", "varchar") and pa.types.is_dictionary(kind):
            return _from_strings(pc.cast(array, pa.string()))
    if name in ("text", "varchar") and column.array_of is None:
        return _text(array, column)  # sent as its text (STRUCTs, MAPs, ENUMs)
    return _per_value(array, lambda v: values.binary_value(v, column.type, column.array_of))


def encode_column(array: pa.Array, column: ColumnType, binary: bool) -> Encoded:
    return _binary(array, column) if binary else _text(array, column)


def data_rows(batch: pa.RecordBatch, columns: list[ColumnType], binary: list[bool]) -> bytes:
    """Every row of the batch as a DataRow message, laid out in one buffer."""
    rows = batch.num_rows
    if rows == 0:
        return b""
    encoded = [
        encode_column(batch.column(i), columns[i], binary[i]) for i in range(batch.num_columns)
    ]
    # A row: 'D', int32 length (counting itself), int16 column count, then per column an
    # int32 length (-1 for NULL) and the value's bytes.
    row_sizes = np.full(rows, 4 + 2, dtype=np.int64)
    for lengths, _ in encoded:
        row_sizes += 4 + np.maximum(lengths, 0)
    starts = np.zeros(rows, dtype=np.int64)
    np.cumsum(row_sizes[:-1] + 1, out=starts[1:])
    out = np.empty(int(starts[-1] + row_sizes[-1] + 1), dtype=np.uint8)
    out[starts] = ord("D")
    _put(out, starts + 1, row_sizes.astype(">i4").view(np.uint8).reshape(-1, 4))
    _put(out, starts + 5, np.full(rows, len(encoded), dtype=">i2").view(np.uint8).reshape(-1, 2))
    at = starts + 7
    for lengths, data in encoded:
        _put(out, at, lengths.astype(">i4").view(np.uint8).reshape(-1, 4))
        present = lengths > 0
        if data.size:
            sizes = lengths[present]
            sources = np.zeros(sizes.size, dtype=np.int64)
            np.cumsum(sizes[:-1], out=sources[1:])
            targets = np.repeat(at[present] + 4 - sources, sizes) + np.arange(data.size)
            out[targets] = data
        at = at + 4 + np.maximum(lengths, 0)
    return out.tobytes()


def _put(out: np.ndarray, starts: np.ndarray, pieces: np.ndarray) -> None:
    """Write pieces[i] (a fixed width) at starts[i]."""
    width = pieces.shape[1]
    out[starts[:, None] + np.arange(width)] = pieces
