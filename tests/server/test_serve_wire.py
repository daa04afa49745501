"""The protocol itself, byte by byte: portals, Describe, and clients that break the rules."""

from __future__ import annotations

import socket
import struct

import pytest
from serve_support import Served


class RawClient:
    def __init__(self, served: Served):
        self.sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        self.buffer = b""

    def startup(self) -> None:
        body = struct.pack("!i", 196608) + b"user\x00raw\x00database\x00shop\x00\x00"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        self.until(b"Z")

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        self.sock.sendall(kind + struct.pack("!i", len(payload) + 4) + payload)

    def message(self) -> tuple[bytes, bytes]:
        while (
            len(self.buffer) < 5 or len(self.buffer) < 1 + struct.unpack("!i", self.buffer[1:5])[0]
        ):
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data
        length = struct.unpack("!i", self.buffer[1:5])[0]
        kind, payload = self.buffer[:1], self.buffer[5 : 1 + length]
        self.buffer = self.buffer[1 + length :]
        return kind, payload

    def until(self, last: bytes) -> list[tuple[bytes, bytes]]:
        got = []
        while True:
            kind, payload = self.message()
            got.append((kind, payload))
            if kind == last:
                return got

    def closed(self) -> bool:
        try:
            while True:
                self.message()
        except (ConnectionError, OSError):
            return True


def _length(buffer: bytes) -> int:
    return int(struct.unpack("!i", buffer[1:5])[0])


def _cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def test_execute_with_a_row_limit_suspends_the_portal_and_resumes(served: Served) -> None:
    client = RawClient(served)
    client.startup()
    client.send(b"P", _cstr("") + _cstr("SELECT * FROM range(5)") + struct.pack("!h", 0))
    client.send(b"B", _cstr("") + _cstr("") + struct.pack("!hhh", 0, 0, 0))
    client.send(b"E", _cstr("") + struct.pack("!i", 2))
    client.send(b"H")
    first = client.until(b"s")
    assert [k for k, _ in first] == [b"1", b"2", b"D", b"D", b"s"]
    client.send(b"E", _cstr("") + struct.pack("!i", 2))
    client.send(b"E", _cstr("") + struct.pack("!i", 2))
    client.send(b"S")
    rest = client.until(b"Z")
    kinds = [k for k, _ in rest]
    assert kinds == [b"D", b"D", b"s", b"D", b"C", b"Z"]
    assert rest[-2][1] == b"SELECT 5\x00"


def test_describe_runs_nothing(served: Served) -> None:
    client = RawClient(served)
    client.startup()
    client.send(
        b"P", _cstr("made") + _cstr("CREATE TABLE described_only (a INTEGER)") + b"\x00\x00"
    )
    client.send(b"D", b"S" + _cstr("made"))
    client.send(b"S")
    assert [k for k, _ in client.until(b"Z")] == [b"1", b"t", b"n", b"Z"]
    client.send(
        b"Q", _cstr("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'described_only'")
    )
    rows = [p for k, p in client.until(b"Z") if k == b"D"]
    assert rows == [struct.pack("!hi", 1, 1) + b"0"]


def test_an_error_in_extended_mode_skips_to_sync(served: Served) -> None:
    client = RawClient(served)
    client.startup()
    client.send(b"P", _cstr("") + _cstr("SELECT nosuch") + b"\x00\x00")
    client.send(b"B", _cstr("") + _cstr("") + struct.pack("!hhh", 0, 0, 0))
    client.send(b"E", _cstr("") + struct.pack("!i", 0))
    client.send(b"S")
    replies = client.until(b"Z")
    # (PostgreSQL finds the error at Parse; sqlml's engine when the statement runs)
    assert [k for k, _ in replies][-2:] == [b"E", b"Z"]
    assert b"C" not in [k for k, _ in replies]
    fields = dict((f[:1], f[1:]) for f in replies[-2][1].split(b"\x00") if f)
    assert fields[b"C"] == b"42703" and fields[b"S"] == b"ERROR" and fields[b"V"] == b"ERROR"


@pytest.mark.parametrize(
    "garbage",
    [
        b"Q" + struct.pack("!i", 1 << 30) + b"SELECT 1",  # a 1 GB length field
        b"Q" + struct.pack("!i", 2),  # shorter than the length itself
        b"\x07" + struct.pack("!i", 4),  # no such message type
        b"B" + struct.pack("!i", 8) + b"\x00\x00\xff\xff",  # fields past the end
    ],
    ids=["huge-length", "short-length", "unknown-type", "truncated-fields"],
)
def test_a_client_that_breaks_the_protocol_gets_08P01_and_others_go_on(
    served: Served, garbage: bytes
) -> None:
    client = RawClient(served)
    client.startup()
    client.sock.sendall(garbage)
    kind, payload = client.message()
    assert kind == b"E" and b"C08P01\x00" in payload
    assert client.closed()
    with served.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_startup_refuses_other_protocol_versions_and_answers_ssl_with_n(served: Served) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    sock.sendall(struct.pack("!ii", 8, 80877103))
    assert sock.recv(1) == b"N"
    sock.sendall(struct.pack("!ii", 8, 2 << 16))
    reply = sock.recv(1000)
    assert reply[:1] == b"E" and b"08P01" in reply and b"3.0" in reply
    sock.close()


def test_a_syntax_error_is_reported_at_parse(served: Served) -> None:
    client = RawClient(served)
    client.startup()
    client.send(b"P", _cstr("") + _cstr("SELEC 1") + struct.pack("!h", 0))
    client.send(b"H")  # Flush: what Parse gave, before any Bind or Execute
    kind, payload = client.message()
    assert kind == b"E" and b"C42601" in payload
    client.send(b"S")
    assert client.until(b"Z")[-1][0] == b"Z"


def test_explain_is_described_with_the_rows_it_sends(served: Served) -> None:
    client = RawClient(served)
    client.startup()
    client.send(b"P", _cstr("") + _cstr("EXPLAIN SELECT 1") + struct.pack("!h", 0))
    client.send(b"B", _cstr("") + _cstr("") + struct.pack("!hhh", 0, 0, 0))
    client.send(b"D", b"P" + _cstr(""))
    client.send(b"E", _cstr("") + struct.pack("!i", 0))
    client.send(b"S")
    kinds = [kind for kind, _ in client.until(b"Z")]
    assert kinds[:3] == [b"1", b"2", b"T"]  # RowDescription, not NoData
    assert b"D" in kinds and kinds[-2:] == [b"C", b"Z"]
