"""PostgreSQL protocol v3 framing: reading frontend messages, writing backend ones.

Nothing here knows SQL. A message is a type byte, an int32 length that counts itself, and
a payload; the startup packet has no type byte. See the protocol's "Message Formats".
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

PROTOCOL_3 = 196608  # 3.0
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

# Larger frontend messages are refused before anything is allocated for them (PostgreSQL's
# own limit for a value is 1 GB; a message this large is a client bug or an attack).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_STARTUP_BYTES = 10_000
SEND_BYTES = 32 * 1024  # writes go out in pieces at least this large

_INT32 = struct.Struct("!i")
_HEADER = struct.Struct("!ci")


class ProtocolViolation(Exception):
    """The client broke the protocol: it gets 08P01 and is disconnected."""

    sqlstate = "08P01"


class ClientGone(Exception):
    """The client closed the connection."""


@dataclass
class Startup:
    code: int
    payload: bytes  # after the code

    def parameters(self) -> dict[str, str]:
        """The name/value pairs of a startup message (each NUL-terminated, then a NUL)."""
        if not self.payload.endswith(b"\x00"):
            raise ProtocolViolation("invalid startup packet layout: expected terminator")
        items = self.payload[:-1].split(b"\x00") if len(self.payload) > 1 else []
        if items and items[-1] == b"":
            items.pop()
        if len(items) % 2:
            raise ProtocolViolation("invalid startup packet layout: a name without a value")
        decoded = [p.decode("utf-8", "replace") for p in items]
        return dict(zip(decoded[::2], decoded[1::2], strict=True))


class Reader:
    """Reads whole messages from a socket (or its TLS wrapper)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def _exactly(self, size: int) -> bytes:
        data = self._stream.read(size)
        if data is None or len(data) < size:
            raise ClientGone
        return data

    def startup(self) -> Startup:
        (length,) = _INT32.unpack(self._exactly(4))
        if length < 8 or length > MAX_STARTUP_BYTES:
            raise ProtocolViolation(f"invalid length of startup packet: {length}")
        body = self._exactly(length - 4)
        return Startup(_INT32.unpack_from(body)[0], body[4:])

    def message(self) -> tuple[bytes, bytes]:
        """(type byte, payload)."""
        kind, length = _HEADER.unpack(self._exactly(5))
        if length < 4 or length > MAX_MESSAGE_BYTES:
            raise ProtocolViolation(f"invalid message length {length} for message {kind!r}")
        return kind, self._exactly(length - 4)


class Payload:
    """Reads the fields of one message's payload."""

    def __init__(self, data: bytes):
        self._data = data
        self._at = 0

    def _take(self, size: int) -> bytes:
        if size < 0 or self._at + size > len(self._data):
            raise ProtocolViolation("message is shorter than its fields")
        piece = self._data[self._at : self._at + size]
        self._at += size
        return piece

    def byte(self) -> bytes:
        return self._take(1)

    def int16(self) -> int:
        return int(struct.unpack("!h", self._take(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack(self._take(4))[0])

    def int16s(self) -> list[int]:
        count = self.int16()
        if count < 0:
            raise ProtocolViolation("negative count in message")
        return list(struct.unpack(f"!{count}h", self._take(2 * count)))

    def int32s(self) -> list[int]:
        count = self.int16()
        if count < 0:
            raise ProtocolViolation("negative count in message")
        return list(struct.unpack(f"!{count}I", self._take(4 * count)))

    def cstring(self) -> str:
        end = self._data.find(b"\x00", self._at)
        if end < 0:
            raise ProtocolViolation("unterminated string in message")
        text = self._data[self._at : end]
        self._at = end + 1
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("invalid UTF-8 in message") from None

    def value(self) -> bytes | None:
        """A length-prefixed value; -1 is NULL."""
        size = self.int32()
        return None if size == -1 else self._take(size)

    def rest(self) -> bytes:
        piece = self._data[self._at :]
        self._at = len(self._data)
        return piece

    def end(self) -> None:
        if self._at != len(self._data):
            raise ProtocolViolation("message is longer than its fields")


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload) + 4) + payload


def cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def authentication(code: int, data: bytes = b"") -> bytes:
    return message(b"R", _INT32.pack(code) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstring(name) + cstring(value))


def backend_key_data(pid: int, key: int) -> bytes:
    return message(b"K", struct.pack("!iI", pid, key))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def command_complete(tag: str) -> bytes:
    return message(b"C", cstring(tag))


@dataclass(frozen=True)
class Field:
    name: str
    type_oid: int
    type_size: int
    type_modifier: int = -1
    format: int = 0  # 0 text, 1 binary
    table_oid: int = 0
    column_number: int = 0


def row_description(fields: Sequence[Field]) -> bytes:
    parts = [struct.pack("!h", len(fields))]
    for f in fields:
        parts.append(cstring(f.name))
        parts.append(
            struct.pack(
                "!IhIhih",
                f.table_oid,
                f.column_number,
                f.type_oid,
                f.type_size,
                f.type_modifier,
                f.format,
            )
        )
    return message(b"T", b"".join(parts))


def parameter_description(oids: Sequence[int]) -> bytes:
    return message(b"t", struct.pack(f"!h{len(oids)}I", len(oids), *oids))


def data_row(values: Iterable[bytes | None]) -> bytes:
    """One row, value by value (for small results; large ones come from ``encoding``)."""
    items = list(values)
    parts = [struct.pack("!h", len(items))]
    for value in items:
        parts.append(b"\xff\xff\xff\xff" if value is None else _INT32.pack(len(value)) + value)
    return message(b"D", b"".join(parts))


# Fields of ErrorResponse and NoticeResponse.
SEVERITY = b"S"
SEVERITY_V = b"V"
CODE = b"C"
MESSAGE = b"M"
DETAIL = b"D"
HINT = b"H"
POSITION = b"P"


def error_fields(kind: bytes, fields: dict[bytes, str]) -> bytes:
    body = b"".join(key + cstring(value) for key, value in fields.items())
    return message(kind, body + b"\x00")


def copy_data_rows(data: bytes, offsets: np.ndarray) -> bytes:
    """Rows laid back to back (row i is data[offsets[i]:offsets[i + 1]]) as one CopyData
    message each, as PostgreSQL sends them and psycopg reads them."""
    rows = len(offsets) - 1
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0] + 5 * np.arange(rows)
    out = np.empty(len(data) + 5 * rows, dtype=np.uint8)
    out[starts] = ord("d")
    sizes = np.frombuffer((lengths + 4).astype(">i4").tobytes(), dtype=np.uint8).reshape(rows, 4)
    out[starts[:, None] + np.arange(1, 5)] = sizes
    row_of_byte = np.repeat(np.arange(rows), lengths)
    out[np.arange(len(data)) + 5 * (row_of_byte + 1)] = np.frombuffer(data, dtype=np.uint8)
    return out.tobytes()


def copy_response(kind: bytes, columns: int, binary: bool = False) -> bytes:
    fmt = 1 if binary else 0
    return message(kind, struct.pack(f"!bh{columns}h", fmt, columns, *([fmt] * columns)))


PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
PORTAL_SUSPENDED = message(b"s")
EMPTY_QUERY = message(b"I")
COPY_DONE = message(b"c")


class Writer:
    """Collects backend messages and sends them in pieces of at least SEND_BYTES, or when
    told to (before the server waits for the client)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._pending: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> None:
        self._pending.append(data)
        self._size += len(data)
        if self._size >= SEND_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        try:
            self._sock.sendall(data)
        except OSError:
            raise ClientGone from None
