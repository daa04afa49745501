"""Arrow record batches as DataRow messages, a column at a time.

A column's values become cells: a byte matrix with a row per value, the value being the
bytes of its row that a keep mask selects (by default its first ``length`` bytes; length
-1 for NULL). Text forms, byte for byte PostgreSQL's, are built with integer arithmetic in
numpy: timestamps, dates and times from lookup tables of digits, integers four digits at a
time, floats from their shortest digits (found by numpy when a value is a short decimal,
else taken from Arrow and laid out again as PostgreSQL prints them); strings and the rest
come from Arrow. Binary forms are numpy's big-endian views. The DataRows of a batch are
then one byte matrix (each row's header, each column's length and cell) compacted by its
keep mask in one Arrow filter, so no Python code runs per value except for the few types
that have no vectorised form (intervals, arrays, binary numerics) and rare floats (see
``_float_exact``). A column whose values vary too much in length to pad (long strings)
stays packed, and Arrow joins each row's pieces around it. See also _keep_freed_memory.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlml.server import values
from sqlml.server.pg_types import ColumnType

Encoded = tuple[np.ndarray, np.ndarray]  # (int64 lengths with -1 for NULL, uint8 bytes)

_PG_EPOCH_MICROS = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
_DAY_MICROS = 86_400_000_000
_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1
_FIRST_DAY = -719_162  # 0001-01-01, in days since 1970-01-01
_LAST_DAY = 2_932_896  # 9999-12-31

# Time zones with no offset ever: their timestamps need no look-up in the zone database.
_UTC_ZONES = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0"}
    | {"GMT-0", "Etc/GMT+0", "Etc/GMT-0", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
    | {"Greenwich", "Etc/Greenwich", "Z", "+00:00", "-00:00"}
)


class _Cells:
    """Values as rows of a byte matrix: value i is lengths[i] bytes of matrix[i] (-1: NULL),
    those where keep[i] is set, or its first ones when keep is None."""

    __slots__ = ("keep", "lengths", "matrix")

    def __init__(self, matrix: np.ndarray, lengths: np.ndarray, keep: np.ndarray | None = None):
        self.matrix = matrix
        self.lengths = lengths
        self.keep = keep


Part = Encoded | _Cells


# -- masks, copies, compaction ---------------------------------------------------------------


@functools.cache
def _first(width: int) -> np.ndarray:
    """Row k keeps the first k of width bytes."""
    return np.arange(width) < np.arange(width + 1)[:, None]


@functools.cache
def _last(width: int) -> np.ndarray:
    """Row k keeps the last k of width bytes."""
    return np.arange(width) >= width - np.arange(width + 1)[:, None]


def _rows(matrix: np.ndarray) -> np.ndarray:
    """A (rows, width) byte or bool matrix whose rows are contiguous as one item per row,
    so that numpy copies a row at a time rather than a byte at a time."""
    width = matrix.shape[1]
    kind = {1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}.get(width, f"V{width}")
    return matrix.view(np.uint8).view(kind)[:, 0]


def _put(out: np.ndarray, at: int, piece: np.ndarray) -> None:
    """piece (rows, width) into out's columns at..at + width."""
    if piece.shape[1]:
        _rows(out[:, at : at + piece.shape[1]])[...] = _rows(np.ascontiguousarray(piece))


def _put_first(keep: np.ndarray, at: int, width: int, counts: np.ndarray) -> None:
    """Keep the first counts[i] (clipped to 0..width) of the width columns at at."""
    if width:
        table = _rows(_first(width))
        _rows(keep[:, at : at + width])[...] = np.take(table, counts, mode="clip")


def _put_last(keep: np.ndarray, at: int, width: int, counts: np.ndarray) -> None:
    if width:
        table = _rows(_last(width))
        _rows(keep[:, at : at + width])[...] = np.take(table, counts, mode="clip")


def _compact(matrix: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The kept bytes of the matrix, row after row (one Arrow filter: numpy's boolean
    indexing is about three times slower)."""
    size = matrix.size
    if size == 0:
        return np.zeros(0, np.uint8)
    bits = np.packbits(keep.reshape(-1), bitorder="little")
    mask = pa.Array.from_buffers(pa.bool_(), size, [None, pa.py_buffer(bits)])
    flat = np.ascontiguousarray(matrix).reshape(-1)
    kept = pa.Array.from_buffers(pa.uint8(), size, [None, pa.py_buffer(flat)]).filter(mask)
    return np.frombuffer(kept.buffers()[1], np.uint8, count=len(kept), offset=kept.offset)


def _keep(cells: _Cells) -> np.ndarray:
    if cells.keep is not None:
        return cells.keep
    rows, width = cells.matrix.shape
    keep = np.empty((rows, width), dtype=bool)
    _put_first(keep, 0, width, cells.lengths)
    return keep


def _pack(cells: _Cells) -> Encoded:
    return cells.lengths, _compact(cells.matrix, _keep(cells))


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.maximum(lengths, 0), out=offsets[1:])
    return offsets


def _left_aligned(cells: _Cells, width: int) -> np.ndarray:
    """Each row's value at the start of a row of width bytes (for a few rows only)."""
    rows = len(cells.lengths)
    sizes = np.maximum(cells.lengths, 0)
    kept = _compact(cells.matrix, _keep(cells))
    out = np.zeros((rows, width), np.uint8)
    row_of = np.repeat(np.arange(rows), sizes)
    out[row_of, np.arange(kept.size) - np.repeat(_offsets(sizes)[:-1], sizes)] = kept
    return out


def _pad(lengths: np.ndarray, data: np.ndarray) -> _Cells | None:
    """Packed values as cells, each padded to the longest; None when padding would more
    than double the bytes (a few long values among short ones)."""
    rows = len(lengths)
    width = int(lengths.max(initial=0))
    if width * rows > 2 * data.size + 32 * rows:
        return None
    if width == 0:
        return _Cells(np.zeros((rows, 0), np.uint8), lengths)
    offsets = _offsets(lengths)
    strings = pa.Array.from_buffers(
        pa.large_string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:  # ascii_rpad counts bytes, whatever they are: one memcpy per value
        padded = pc.ascii_rpad(strings, width=width, padding=" ")
        ends = np.frombuffer(padded.buffers()[1], np.int64)[padded.offset :][: rows + 1]
        if ends[0] == 0 and ends[-1] == rows * width:  # each value at least width: all width
            matrix = np.frombuffer(padded.buffers()[2], np.uint8, count=rows * width)
            return _Cells(matrix.reshape(rows, width), lengths)
    except pa.ArrowException:
        pass
    source = np.minimum(offsets[:-1, None] + np.arange(width), max(data.size - 1, 0))
    return _Cells(data[source] if data.size else np.zeros((rows, width), np.uint8), lengths)


# -- digits ----------------------------------------------------------------------------------

_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)
_PAIRS16 = _PAIRS.view("<u2").reshape(100)  # two digits as one little-endian uint16
_QUADS = np.array(
    [int.from_bytes(f"{i:04d}".encode(), "little") for i in range(10_000)], dtype="<u4"
)
# Of a 3-digit group (000..999), the digits up to its last nonzero one: 120 -> 2, 0 -> 0.
_SIGNIFICANT3 = np.array([len(f"{i:03d}".rstrip("0")) for i in range(1000)], dtype=np.int64)
_POWERS = 10 ** np.arange(19, dtype=np.int64)
_LIMITS = np.array([10**i for i in range(1, 20)], dtype=np.uint64)


def _put_pair(matrix: np.ndarray, at: int, numbers: np.ndarray) -> None:
    """Two digits of numbers (0..99) at columns at, at + 1."""
    matrix[:, at : at + 2].view("<u2")[:, 0] = _PAIRS16[numbers]


def _put_digits(matrix: np.ndarray, at: int, numbers: np.ndarray, count: int) -> None:
    """count decimal digits of numbers (0 <= numbers < 10**count, zero-padded) at columns
    at..at + count - 1: four at a time, then two, then one (int32 division where it fits:
    twice as fast as int64's; numpy's divmod is slower than // and a product)."""
    if count <= 9 and numbers.dtype != np.int32:
        numbers = numbers.astype(np.int32)
    end = at + count
    while end - at >= 4:
        high = numbers // 10_000
        matrix[:, end - 4 : end].view("<u4")[:, 0] = _QUADS[numbers - high * 10_000]
        numbers = high
        end -= 4
    if end - at >= 2:
        high = numbers // 100
        _put_pair(matrix, end - 2, numbers - high * 100)
        numbers = high
        end -= 2
    if end > at:
        matrix[:, at] = 48 + numbers % 10


def _digit_count(numbers: np.ndarray, most: int) -> np.ndarray:
    """Decimal digits of numbers (>= 0; 0 has one), given that none has more than most."""
    limits = _LIMITS[: most - 1]
    if most <= 9:
        numbers, limits = numbers.astype(np.int32, copy=False), limits.astype(np.int32)
    else:
        numbers = numbers.astype(np.uint64, copy=False)
    count = np.ones(len(numbers), dtype=np.int8)
    for limit in limits:
        count += numbers >= limit
    return count.astype(np.int64)


def _fraction_places(fraction: np.ndarray) -> np.ndarray:
    """Digits of a 6-digit fraction (0..999999) without its trailing zeros."""
    fraction = fraction.astype(np.int32, copy=False)
    high = fraction // 1000
    low = fraction - high * 1000
    return np.where(low != 0, 3 + _SIGNIFICANT3[low], _SIGNIFICANT3[high])


@functools.cache
def _signed_keeps(most: int, fraction: bool) -> np.ndarray:
    """The keep masks of '[-]digits[.ffffff]' laid out as sign, most digits right-aligned
    and 7 bytes of fraction, one per (negative, digits, fraction bytes shown) in that
    order of indices, each a row as one item (see _rows)."""
    width = 1 + most + (7 if fraction else 0)
    table = np.zeros((2, most + 1, 8, width), dtype=bool)
    table[1, :, :, 0] = True
    for digits in range(1, most + 1):
        table[:, digits, :, 1 + most - digits : 1 + most] = True
    if fraction:
        for shown in range(8):
            table[:, :, shown, 1 + most : 1 + most + shown] = True
    return _rows(table.reshape(-1, width))


def _signed_cells(
    negative: np.ndarray, whole: np.ndarray, most: int, fraction: np.ndarray | None = None
) -> _Cells:
    """'[-]digits[.ffffff]' of magnitudes whole (at most most digits) with 6-digit
    fractions (0..999999, shown without trailing zeros)."""
    rows = len(whole)
    width = 1 + most + (0 if fraction is None else 7)
    matrix = np.empty((rows, width), np.uint8)
    matrix[:, 0] = ord("-")
    _put_digits(matrix, 1, whole, most)
    count = _digit_count(whole, most)
    lengths = count + negative
    index = (negative * (most + 1) + count) * 8
    if fraction is not None:
        matrix[:, 1 + most] = ord(".")
        _put_digits(matrix, 2 + most, fraction, 6)
        places = _fraction_places(fraction)
        shown = np.where(places > 0, places + 1, 0)
        index += shown
        lengths += shown
    keep = _signed_keeps(most, fraction is not None)[index].view(bool).reshape(rows, width)
    return _Cells(matrix, lengths, keep)


def _integer_text(array: pa.Array) -> _Cells:
    """Integers in decimal: digits from the last, the sign before the first one."""
    valid = _valid(array)
    numbers = _numbers(array)
    negative = numbers < 0
    if numbers.dtype.kind == "u":
        magnitude = numbers.astype(np.uint64)
    else:  # as uint64: -2**63 has no int64 magnitude
        magnitude = np.abs(numbers.astype(np.int64)).view(np.uint64)
    cells = _signed_cells(negative, magnitude, len(str(int(magnitude.max(initial=0)))))
    assert cells.keep is not None
    cells.keep[~valid] = False
    cells.lengths[~valid] = -1
    return cells


# -- dates and times in text -----------------------------------------------------------------


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proleptic Gregorian (year, month, day) of days since 1970-01-01; year 0 is 1 BC."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _dates(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' of days in years 1..9999, as (rows, 10) bytes."""
    year, month, day = _civil(days)
    out = np.empty((len(days), 10), np.uint8)
    _put_digits(out, 0, year, 4)
    out[:, 4] = out[:, 7] = ord("-")
    _put_pair(out, 5, month)
    _put_pair(out, 8, day)
    return out


@functools.cache
def _clock_table() -> np.ndarray:
    """'HH:MM:SS' of each second of a day and of 24:00:00, as one uint64 each."""
    minutes, second = np.divmod(np.arange(86_401), 60)
    hour, minute = np.divmod(minutes, 60)
    out = np.empty((86_401, 8), np.uint8)
    _put_pair(out, 0, hour)
    out[:, 2] = out[:, 5] = ord(":")
    _put_pair(out, 3, minute)
    _put_pair(out, 6, second)
    return out.view("<u8")[:, 0]


def _clock_cells(
    days: np.ndarray | None,
    micros: np.ndarray | None,
    offsets: np.ndarray | None,
    valid: np.ndarray,
    infinite: np.ndarray | None = None,
) -> _Cells:
    """'YYYY-MM-DD', 'HH:MM:SS[.ffffff]' or both with a space between, then the UTC offset
    in seconds ('+HH[:MM[:SS]]') and ' BC', as PostgreSQL prints them: the fraction without
    trailing zeros, at least 4 digits of year, 'infinity' and '-infinity' (infinite: +1, -1).
    An offsets array of one zero stands for all zero."""
    rows = len(valid)
    plain_years = True  # all in 1..9999 AD
    bc = None
    if days is not None:
        usable = valid if infinite is None else valid & (infinite == 0)
        known = days if usable.all() else days[usable]
        low, high = int(known.min(initial=0)), int(known.max(initial=0))
        if len(known) < rows:  # NULLs and infinities: any day of the others
            days = np.where(usable, days, low)
        plain_years = low >= _FIRST_DAY and high <= _LAST_DAY
        if not plain_years:
            year, month, day = _civil(days)
            bc = year <= 0
            year = np.where(bc, 1 - year, year)
            if not bc.any():
                bc = None
    fraction = None
    if micros is not None:
        seconds, fraction = np.divmod(micros, 1_000_000)
        if not fraction.any():
            fraction = None
    uniform_offset = offsets is not None and offsets.shape == (1,) and offsets[0] == 0
    slots = [
        (10 if plain_years else 13) if days is not None else 0,
        (9 if days is not None else 8) if micros is not None else 0,
        7 if fraction is not None else 0,
        (3 if uniform_offset else 9) if offsets is not None else 0,
        3 if bc is not None else 0,
    ]
    width = max(sum(slots), 9 if infinite is not None else 0)
    matrix = np.empty((rows, width), np.uint8)
    lengths = np.zeros(rows, dtype=np.int64)
    # The mask is needed when a piece of varying length comes before the end.
    keep = None
    if not plain_years or (fraction is not None and sum(slots[3:]) > 0):
        keep = np.ones((rows, width), dtype=bool)
    at = 0
    if days is not None:
        if plain_years:
            if high - low < rows // 2:  # few days: format each once
                table = _rows(_dates(np.arange(low, high + 1)))
                _rows(matrix[:, at : at + 10])[...] = table[days - low]
            else:
                _put(matrix, at, _dates(days))
            lengths += 10
        else:
            assert keep is not None
            _put_digits(matrix, at, year, 7)
            year_digits = _digit_count(year, 7)
            year_digits = np.maximum(year_digits, 4)
            _put_last(keep, at, 7, year_digits)
            matrix[:, at + 7] = matrix[:, at + 10] = ord("-")
            _put_pair(matrix, at + 8, month)
            _put_pair(matrix, at + 11, day)
            lengths += year_digits + 6
        at += slots[0]
    if micros is not None:
        if days is not None:
            matrix[:, at] = ord(" ")
            at += 1
            lengths += 1
        matrix[:, at : at + 8].view("<u8")[:, 0] = _clock_table()[seconds]
        lengths += 8
        at += 8
    if fraction is not None:
        matrix[:, at] = ord(".")
        _put_digits(matrix, at + 1, fraction, 6)
        places = _fraction_places(fraction)
        dotted = np.where(places > 0, places + 1, 0)
        if keep is not None:
            _put_first(keep, at, 7, dotted)
        lengths += dotted
        at += 7
    if offsets is not None:
        if uniform_offset:
            matrix[:, at : at + 3] = np.frombuffer(b"+00", np.uint8)
            lengths += 3
            at += 3
        else:
            matrix[:, at] = np.where(offsets < 0, ord("-"), ord("+"))
            minutes, second = np.divmod(np.abs(offsets), 60)
            hour, minute = np.divmod(minutes, 60)
            _put_pair(matrix, at + 1, hour)
            matrix[:, at + 3] = matrix[:, at + 6] = ord(":")
            _put_pair(matrix, at + 4, minute)
            _put_pair(matrix, at + 7, second)
            shown = 3 + 3 * ((minute != 0) | (second != 0)) + 3 * (second != 0)
            if keep is not None:
                _put_first(keep, at, 9, shown)
            lengths += shown
            at += 9
    if bc is not None:
        assert keep is not None
        matrix[:, at : at + 3] = np.frombuffer(b" BC", np.uint8)
        keep[:, at : at + 3] = bc[:, None]
        lengths += 3 * bc
        at += 3
    if keep is not None:
        keep[:, at:] = False
    if infinite is not None:
        for sign, word in ((1, b"infinity"), (-1, b"-infinity")):
            rows_of = infinite == sign
            matrix[rows_of, : len(word)] = np.frombuffer(word, np.uint8)
            if keep is not None:
                keep[rows_of] = _first(width)[len(word)]
            lengths[rows_of] = len(word)
    if keep is not None:
        keep[~valid] = False
    lengths[~valid] = -1
    return _Cells(matrix, lengths, keep)


def _integers(array: pa.Array, kind: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """(valid, the values as int64 with 0 for NULL) of a temporal array stored as integers."""
    return _valid(array), _numbers(array.view(kind)).astype(np.int64, copy=False)


def _infinite(numbers: np.ndarray, top: int) -> np.ndarray | None:
    """+1 / -1 where DuckDB stores infinity / -infinity (its largest values), else 0."""
    infinite = (numbers >= top).astype(np.int8) - (numbers <= -top)
    return infinite if infinite.any() else None


def _timestamp_text(array: pa.Array) -> _Cells:
    array = _as_micros(array)
    valid, micros = _integers(array, pa.int64())
    infinite = _infinite(micros, _INT64_MAX)
    if infinite is not None:
        micros = np.where(infinite != 0, 0, micros)
    zone = array.type.tz
    offsets = None
    if zone is not None:
        if zone in _UTC_ZONES:
            offsets = np.zeros(1, dtype=np.int64)
        else:  # the wall clock in the session's zone, and its offset from UTC
            instants = pa.array(micros, pa.timestamp("us", zone))
            local = pc.local_timestamp(instants).view(pa.int64()).to_numpy()
            offsets = (local - micros) // 1_000_000
            micros = local
    days, clock = np.divmod(micros, _DAY_MICROS)
    return _clock_cells(days, clock, offsets, valid, infinite)


def _date_text(array: pa.Array) -> _Cells:
    valid, days = _integers(array, pa.int32())
    infinite = _infinite(days, _INT32_MAX)
    if infinite is not None:
        days = np.where(infinite != 0, 0, days)
    return _clock_cells(days, None, None, valid, infinite)


def _time_text(array: pa.Array) -> _Cells:
    valid, micros = _integers(_as_micros(array), pa.int64())
    return _clock_cells(None, micros, None, valid)


# -- floats in text --------------------------------------------------------------------------
#
# PostgreSQL 12+ prints a float4/float8 with the fewest digits that read back as the same
# value (Ryu), in fixed notation when the decimal exponent is in -4..14 (float4: -4..5),
# else as d.ddde+XX; Infinity, -Infinity, NaN. Three ways to those digits, cheapest first:
# a float8 within 1e-4..1e15 that is a decimal of at most 15 digits with at most 6 after
# the point is that decimal (no other of 15 digits or fewer reads back as it), found with
# numpy; the others take Arrow's shortest digits (the same as Ryu's), laid out again where
# Arrow's notation differs (exponents outside -4..9, exponents of one digit). Those digits
# differ from PostgreSQL's only when they are exactly halfway to a neighbouring float,
# which Arrow allows and PostgreSQL's Ryu does not: such values (only integers of 2**53
# and up, 2**24 for float4) are found by modular arithmetic and redone in Python.

_FLOAT_WIDTH = 24  # '-1.2345678901234567e-308'
_PRIME = 2_147_483_647
_POW2_MOD = np.array([pow(2, i, _PRIME) for i in range(1100)], dtype=np.int64)
_POW10_MOD = np.array([pow(10, i, _PRIME) for i in range(400)], dtype=np.int64)


def _float_text(array: pa.Array) -> _Cells:
    if array.type not in (pa.float32(), pa.float64()):
        array = pc.cast(array, pa.float32())
    single = array.type == pa.float32()
    valid = _valid(array)
    numbers = _numbers(array)
    rows = len(numbers)
    fast = None if single else _short_decimals(numbers)
    if fast is None:
        cells = _float_digits(numbers, single)
        cells.lengths[~valid] = -1
        return cells
    cells, done = fast
    rest = ~done
    if rest.any():
        others = _float_digits(numbers[rest], single)
        width = max(cells.matrix.shape[1], others.matrix.shape[1])
        matrix = np.zeros((rows, width), np.uint8)
        matrix[:, : cells.matrix.shape[1]] = cells.matrix
        keep = np.zeros((rows, width), dtype=bool)
        keep[:, : cells.matrix.shape[1]] = _keep(cells)
        matrix[rest, : others.matrix.shape[1]] = others.matrix
        keep[rest] = _first(width)[others.lengths]
        cells.lengths[rest] = others.lengths
        cells = _Cells(matrix, cells.lengths, keep)
    assert cells.keep is not None
    cells.keep[~valid] = False
    cells.lengths[~valid] = -1
    return cells


def _short_decimals(numbers: np.ndarray) -> tuple[_Cells, np.ndarray] | None:
    """The float8s that are short decimals (and zeros) written by numpy, and which those
    are; None when fewer than half are (of the first 256, then of all)."""
    if len(numbers) > 1024 and _short_decimals(numbers[:256]) is None:
        return None
    size = np.abs(numbers)
    fits = (size >= 1e-4) & (size < 1e15)  # False for NaN and infinities
    some = np.where(fits, size, 1.0)
    with np.errstate(divide="ignore"):
        places = np.clip(14 - np.floor(np.log10(some)), 0, 6).astype(np.int64)
    scale = _POWERS[places].astype(np.float64)
    scaled = np.rint(some * scale)
    done = (fits & (scaled < 1e15) & (scaled / scale == some)) | (size == 0)
    if np.count_nonzero(done) * 2 < len(numbers):
        return None
    decimals = np.where(fits & done, scaled, 0).astype(np.int64)
    if int(places.min()) == int(places.max()):  # one scale: a division by a constant
        whole = decimals // int(_POWERS[places[0]])
        fraction = (decimals - whole * int(_POWERS[places[0]])) * int(_POWERS[6 - places[0]])
    else:
        places = np.where(fits & done, places, 0)
        whole, fraction = np.divmod(decimals, _POWERS[places])
        fraction *= _POWERS[6 - places]  # as 6 digits
    most = len(str(int(whole.max(initial=0))))
    cells = _signed_cells(np.signbit(numbers), whole, most, fraction if fraction.any() else None)
    return cells, done


def _float_digits(numbers: np.ndarray, single: bool) -> _Cells:
    """Floats from Arrow's shortest digits, in PostgreSQL's notation (left-aligned)."""
    lengths, data = _from_strings(pc.cast(pa.array(numbers), pa.string()))
    cells = _pad(lengths, data)
    assert cells is not None  # at most 25 bytes a value
    matrix = cells.matrix
    finite = np.isfinite(numbers)
    size = np.abs(np.where(finite, numbers, 0))
    # Arrow writes fixed notation for exponents -6..9: rows that may differ (with margins)
    redo = (size != 0) & ((size < 2e-4) | (size >= (5e5 if single else 5e9)))
    special = not finite.all()
    if redo.any() or special:
        matrix = np.zeros((len(lengths), max(matrix.shape[1], _FLOAT_WIDTH)), np.uint8)
        matrix[:, : cells.matrix.shape[1]] = cells.matrix
        if redo.any():
            text, count = _pg_float(cells.matrix[redo], lengths[redo], numbers[redo], single)
            matrix[redo, :_FLOAT_WIDTH] = text
            lengths[redo] = count
        if special:
            for word, where in (
                (b"NaN", np.isnan(numbers)),
                (b"Infinity", numbers == np.inf),
                (b"-Infinity", numbers == -np.inf),
            ):
                matrix[where, : len(word)] = np.frombuffer(word, np.uint8)
                lengths[where] = len(word)
    return _Cells(matrix, lengths)


def _pg_float(
    text: np.ndarray, lengths: np.ndarray, numbers: np.ndarray, single: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero finite numbers as Arrow wrote them (fixed or d.ddde+X) in PostgreSQL's
    notation, left-aligned in rows of _FLOAT_WIDTH bytes, and their lengths."""
    rows, width = text.shape
    cols = np.arange(width)
    inside = cols < lengths[:, None]
    negative = text[:, 0] == ord("-")
    start = negative.astype(np.int64)
    is_e = inside & (text == ord("e"))
    has_e = is_e.any(axis=1)
    e_at = np.where(has_e, is_e.argmax(axis=1), lengths)
    mantissa = (cols >= start[:, None]) & (cols < e_at[:, None])
    is_dot = mantissa & (text == ord("."))
    has_dot = is_dot.any(axis=1)
    dot_at = np.where(has_dot, is_dot.argmax(axis=1), e_at)
    nonzero = mantissa & (text >= ord("1")) & (text <= ord("9"))
    first = nonzero.argmax(axis=1)
    last = width - 1 - nonzero[:, ::-1].argmax(axis=1)

    def digit_index(at: np.ndarray) -> np.ndarray:  # a position's index among the digits
        return at - start - (has_dot & (at > dot_at))

    lead = digit_index(first)
    count = digit_index(last) - lead + 1  # significant digits
    written = inside & (cols >= (e_at + 2)[:, None])
    powers = _POWERS[np.clip(lengths[:, None] - 1 - cols, 0, 3)]
    exponent = ((text.astype(np.int64) - 48) * powers * written).sum(axis=1)
    sign_at = np.minimum(e_at + 1, width - 1)
    exponent = np.where(has_e & (text[np.arange(rows), sign_at] == ord("-")), -exponent, exponent)
    exponent += dot_at - start - 1 - lead  # of the first significant digit
    at = start[:, None] + lead[:, None] + np.arange(17)
    at += has_dot[:, None] & (at >= dot_at[:, None])
    digits = np.take_along_axis(text, np.minimum(at, width - 1), axis=1)
    high = 6 if single else 15

    # Every notation's pieces in one template; the keep mask picks a row's own.
    fixed = (exponent >= -4) & (exponent < high)
    whole = fixed & (exponent >= 0)
    before = np.where(whole, np.minimum(count, exponent + 1), np.where(fixed, 0, 1))
    zeros = np.where(whole, np.maximum(0, exponent + 1 - count), np.where(fixed, -exponent - 1, 0))
    point = np.where(fixed, whole & (count > exponent + 1), count > 1)
    magnitude = np.abs(exponent)
    template = np.empty((rows, 58), np.uint8)
    keep = np.zeros((rows, 58), dtype=bool)
    template[:, 0] = ord("-")
    keep[:, 0] = negative
    template[:, 1:18] = digits
    _put_first(keep, 1, 17, before)
    template[:, 18:20] = np.frombuffer(b"0.", np.uint8)
    keep[:, 18:20] = (fixed & ~whole)[:, None]
    template[:, 20:35] = ord("0")
    _put_first(keep, 20, 15, zeros)
    template[:, 35] = ord(".")
    keep[:, 35] = point
    template[:, 36:53] = digits
    keep[:, 36:53] = (np.arange(17) >= before[:, None]) & (np.arange(17) < count[:, None])
    template[:, 53] = ord("e")
    template[:, 54] = np.where(exponent < 0, ord("-"), ord("+"))
    keep[:, 53:55] = ~fixed[:, None]
    _put_digits(template, 55, magnitude, 3)
    _put_last(keep, 55, 3, np.where(fixed, 0, 2 + (magnitude >= 100)))
    sizes = keep.sum(axis=1)
    out = _left_aligned(_Cells(template, sizes, keep), _FLOAT_WIDTH)

    halfway = _halfway(digits, count, exponent, numbers, single)
    for row in np.flatnonzero(halfway):
        exact = _float_exact(float(numbers[row]), single)
        out[row] = 0
        out[row, : len(exact)] = np.frombuffer(exact, np.uint8)
        sizes[row] = len(exact)
    return out, sizes


def _halfway(
    digits: np.ndarray, count: np.ndarray, exponent: np.ndarray, numbers: np.ndarray, single: bool
) -> np.ndarray:
    """Which decimals (digits[:count] x 10**(exponent - count + 1)) may be exactly halfway
    between the float and a neighbour: equal to a midpoint modulo a prime (every real one
    is; the few false ones are only redone)."""
    if single:
        bits = numbers.astype(np.float32).view(np.uint32).astype(np.int64)
        stored, fraction_bits = (bits >> 23) & 0xFF, bits & ((1 << 23) - 1)
        scale = stored - 150
        mantissa = fraction_bits | (1 << 23)
    else:
        bits = numbers.astype(np.float64).view(np.uint64)
        stored = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
        fraction_bits = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
        scale = stored - 1075
        mantissa = fraction_bits | (1 << 52)
    power = exponent - count + 1  # of the last digit
    candidates = (scale >= 1) & (power >= 0)
    if not candidates.any():
        return candidates
    decimal = np.zeros(len(count), dtype=np.int64)
    for j in range(17):
        decimal = np.where(j < count, decimal * 10 + (digits[:, j].astype(np.int64) - 48), decimal)
    safe = np.where(candidates, scale, 2)
    value = (decimal % _PRIME) * _POW10_MOD[np.clip(power, 0, 399)] % _PRIME
    above = ((2 * mantissa + 1) % _PRIME) * _POW2_MOD[safe - 1] % _PRIME
    below = np.where(
        fraction_bits == 0,
        ((4 * mantissa - 1) % _PRIME) * _POW2_MOD[np.maximum(safe - 2, 0)] % _PRIME,
        ((2 * mantissa - 1) % _PRIME) * _POW2_MOD[safe - 1] % _PRIME,
    )
    return candidates & ((value == above) | (value == below))


def _float_exact(number: float, single: bool) -> bytes:
    """PostgreSQL's text of one finite nonzero float, exactly: the fewest digits strictly
    inside the interval of reals that round to it (nearest to it when several)."""
    if single:
        bits = int(np.float32(number).view(np.uint32))
        stored, fraction_bits, width, high = (bits >> 23) & 0xFF, bits & ((1 << 23) - 1), 23, 6
    else:
        bits = int(np.float64(number).view(np.uint64))
        stored, fraction_bits, width, high = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1), 52, 15
    bias = 127 + 23 if single else 1023 + 52
    mantissa = fraction_bits | (1 << width) if stored else fraction_bits
    scale = (stored if stored else 1) - bias
    value = Fraction(mantissa) * Fraction(2) ** scale
    gap_above = Fraction(2) ** (scale - 1)
    gap_below = gap_above / 2 if fraction_bits == 0 and stored > 1 else gap_above
    lowest, highest = value - gap_below, value + gap_above
    top = math.floor(math.log10(value))
    chosen = count = 0
    while Fraction(10) ** (top + 1) <= value:
        top += 1
    while Fraction(10) ** top > value:
        top -= 1
    for count in range(1, 18):
        unit = Fraction(10) ** (top - count + 1)
        least = math.floor(lowest / unit) + 1
        most = math.ceil(highest / unit) - 1
        if least <= most:
            chosen = min(max(round(value / unit), least), most)
            break
    text = str(chosen).rstrip("0")
    exponent = top + len(str(chosen)) - count  # of the first digit (count may have carried)
    if exponent >= -4 and exponent < high:
        if exponent >= 0:
            whole = text[: exponent + 1].ljust(exponent + 1, "0")
            rest = text[exponent + 1 :]
            out = whole + ("." + rest if rest else "")
        else:
            out = "0." + "0" * (-exponent - 1) + text
    else:
        out = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out += f"e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return (("-" if number < 0 else "") + out).encode()


# -- columns ---------------------------------------------------------------------------------


def _valid(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(array: pa.Array) -> np.ndarray:
    """An integer or float array's values (0 for NULL) from its buffer (pyarrow's to_numpy
    can take milliseconds for 64k int32s)."""
    if array.null_count:
        array = pc.fill_null(array, 0)
    dtype = np.dtype(array.type.to_pandas_dtype())
    data = array.buffers()[1]
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * dtype.itemsize)


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


def _fixed(array: pa.Array, dtype: str, shift: int = 0) -> _Cells:
    """Fixed-width big-endian numbers (ints, floats, days, microseconds)."""
    valid = _valid(array)
    numbers = _numbers(array)
    if shift:
        numbers = numbers - shift
    width = np.dtype(dtype).itemsize
    matrix = numbers.astype(dtype).view(np.uint8).reshape(len(numbers), width)
    return _Cells(matrix, np.where(valid, width, -1).astype(np.int64))


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


def _as_micros(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type) and array.type.unit != "us":
        return pc.cast(array, pa.timestamp("us", array.type.tz), safe=False)
    if pa.types.is_time(array.type) and (array.type.unit != "us"):
        return pc.cast(array, pa.time64("us"), safe=False)
    return array


def _text(array: pa.Array, column: ColumnType) -> Part:
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), -1, dtype=np.int64), np.zeros(0, np.uint8)
    if column.array_of is not None or pa.types.is_nested(kind) or pa.types.is_interval(kind):
        return _per_value(array, lambda v: values.text_value(v).encode())
    if pa.types.is_boolean(kind):
        valid = _valid(array)
        flags = np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False))
        matrix = np.where(flags, ord("t"), ord("f")).astype(np.uint8).reshape(-1, 1)
        return _Cells(matrix, np.where(valid, 1, -1).astype(np.int64))
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return _per_value(array, lambda v: values.text_value(v).encode())
    if pa.types.is_timestamp(kind):
        return _timestamp_text(array)
    if pa.types.is_date32(kind):
        return _date_text(array)
    if pa.types.is_time(kind):
        return _time_text(array)
    if pa.types.is_integer(kind):
        return _integer_text(array)
    if pa.types.is_dictionary(kind):
        array = pc.cast(array, pa.string())
    if pa.types.is_floating(array.type):
        return _float_text(array)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
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


def _binary(array: pa.Array, column: ColumnType) -> Part:
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
    _keep_freed_memory()
    part = _binary(array, column) if binary else _text(array, column)
    return _pack(part) if isinstance(part, _Cells) else part


# -- rows ------------------------------------------------------------------------------------


@functools.cache
def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory up to 32 MB a block, once per process.

    Encoding a batch makes many numpy arrays of a few hundred kB to a few MB. By default
    glibc maps each block of 128 kB or more (more, once it has seen larger ones freed) afresh
    and unmaps it when freed; a batch of the same size after it then takes a page fault for
    each 4 kB it touches, which cost sqlml serve about as much as the encoding itself (80k
    faults, 0.2 s of system time a million rows). With the blocks kept, the same memory is
    used again."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc's options (musl has none)
            return
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest
    mallopt(m_trim_threshold, 64 << 20)  # free memory above this is given back


_Piece = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]  # matrix, keep, lengths


def data_rows(batch: pa.RecordBatch, columns: list[ColumnType], binary: list[bool]) -> bytes:
    """Every row of the batch as a DataRow message, laid out in one buffer.

    A row: 'D', int32 length (counting itself), int16 column count, then per column an
    int32 length (-1 for NULL) and the value's bytes. The pieces of fixed width and the
    cells go into one matrix, a row per DataRow, compacted by their keep masks; a column
    that does not pad well is left packed and the rows are joined around it."""
    rows = batch.num_rows
    if rows == 0:
        return b""
    _keep_freed_memory()
    parts = [
        _binary(batch.column(i), columns[i]) if binary[i] else _text(batch.column(i), columns[i])
        for i in range(batch.num_columns)
    ]
    row_sizes = np.full(rows, 4 + 2, dtype=np.int64)
    for part in parts:
        row_sizes += 4 + np.maximum(part.lengths if isinstance(part, _Cells) else part[0], 0)
    header = np.empty((rows, 7), np.uint8)
    header[:, 0] = ord("D")
    header[:, 1:5].view("<u4")[:, 0] = row_sizes.astype(">u4").view("<u4")
    header[:, 5:7] = np.frombuffer(len(parts).to_bytes(2, "big"), np.uint8)
    pieces: list[Encoded] = []  # runs of the matrix, and the columns left packed between them
    run: list[_Piece] = [(header, None, None)]
    run_sizes = np.full(rows, 7, dtype=np.int64)
    for part in parts:
        lengths = part.lengths if isinstance(part, _Cells) else part[0]
        run.append((lengths.astype(">i4").view(np.uint8).reshape(-1, 4), None, None))
        run_sizes += 4
        cells = part if isinstance(part, _Cells) else _pad(*part)
        if cells is None:
            assert not isinstance(part, _Cells)
            pieces += [(run_sizes, _run_bytes(run, rows)), part]
            run, run_sizes = [], np.zeros(rows, dtype=np.int64)
            continue
        run.append((cells.matrix, cells.keep, None if cells.keep is not None else lengths))
        run_sizes += np.maximum(lengths, 0)
    if not pieces:
        return _run_bytes(run, rows).tobytes()
    if run:
        pieces.append((run_sizes, _run_bytes(run, rows)))
    arrays = [
        pa.Array.from_buffers(
            pa.large_binary(), rows, [None, pa.py_buffer(_offsets(sizes)), pa.py_buffer(data)]
        )
        for sizes, data in pieces
    ]
    joined = pc.binary_join_element_wise(*arrays, pa.scalar(b"", pa.large_binary()))
    ends = np.frombuffer(joined.buffers()[1], np.int64)[joined.offset :][: rows + 1]
    return joined.buffers()[2][int(ends[0]) : int(ends[-1])].to_pybytes()


def _run_bytes(run: list[_Piece], rows: int) -> np.ndarray:
    """Pieces side by side, each (matrix, keep mask or None, lengths or None): no mask and
    no lengths keep the whole piece, lengths keep a row's first bytes."""
    width = sum(matrix.shape[1] for matrix, _, _ in run)
    out = np.empty((rows, width), np.uint8)
    keep = np.ones((rows, width), dtype=bool)
    at = 0
    for matrix, mask, lengths in run:
        size = matrix.shape[1]
        _put(out, at, matrix)
        if mask is not None:
            _put(keep, at, mask)
        elif lengths is not None and size and int(lengths.min()) < size:
            _put_first(keep, at, size, lengths)
        at += size
    return _compact(out, keep)
