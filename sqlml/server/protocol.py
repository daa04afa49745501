"""One client's conversation: startup, simple and extended query, portals, errors.

The SQL side is an ``Engine`` (sqlml.server.engine gives the real one); nothing here
parses SQL, so this layer could be replaced by a compiled one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from sqlml.server import encoding, values, wire
from sqlml.server.pg_types import TEXT, ColumnType
from sqlml.server.wire import Payload, ProtocolViolation

log = logging.getLogger("sqlml.serve")

SERVER_VERSION = "16.4"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType


@runtime_checkable
class Outcome(Protocol):
    """What a statement gave: rows (columns set) or only a command tag."""

    columns: list[Column] | None

    def batches(self) -> Iterator[pa.RecordBatch]: ...

    def tag(self, rows: int) -> str: ...


class Engine(Protocol):
    """The SQL side of one session."""

    transaction_status: bytes  # b"I" idle, b"T" in a transaction, b"E" in a failed one

    def split(self, sql: str) -> list[str]: ...

    def check(self, sql: str) -> None: ...

    def parameter_count(self, sql: str) -> int: ...

    def parameter_types(self, sql: str) -> list[int]: ...

    def describe(self, sql: str, params: list[Any] | None) -> list[Column] | Outcome | None:
        """The columns a statement gives, without running it; None when it gives none. A
        read-only statement whose columns are known only by running it (SHOW MODELS) may
        be run: its Outcome is then what Execute sends."""

    def execute(self, sql: str, params: list[Any]) -> Outcome | CopyIn: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class CopyOut:
    """COPY ... TO STDOUT: what the client receives, as CopyData messages (a row each)."""

    columns: list[Column] | None = None

    def __init__(self, width: int, pieces: Iterator[bytes]):
        self.width = width
        self.pieces = pieces
        self.rows = 0  # counted by the engine while the pieces are made

    def batches(self) -> Iterator[pa.RecordBatch]:
        return iter(())

    def tag(self, rows: int) -> str:
        return f"COPY {self.rows}"


class CopyIn(Protocol):
    """COPY ... FROM STDIN: takes the client's CopyData, then loads it (or drops it)."""

    width: int

    def write(self, data: bytes) -> None: ...

    def finish(self) -> str: ...  # the command tag, COPY n

    def abort(self) -> None: ...


class SqlError(Exception):
    """An error for the client, with its SQLSTATE."""

    def __init__(self, sqlstate: str, message: str):
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass
class _Prepared:
    sql: str
    parameter_oids: list[int]


@dataclass
class _Rows:
    """A portal's rows, read as far as the client asked (Execute with a row limit)."""

    outcome: Outcome
    batches: Iterator[pa.RecordBatch]
    left: pa.RecordBatch | None = None
    sent: int = 0
    done: bool = False

    def take(self, limit: int) -> list[pa.RecordBatch]:
        taken: list[pa.RecordBatch] = []
        count = 0
        while limit <= 0 or count < limit:
            batch = self.left if self.left is not None else next(self.batches, None)
            self.left = None
            if batch is None:
                self.done = True
                break
            if limit > 0 and count + batch.num_rows > limit:
                keep = limit - count
                self.left = batch.slice(keep)
                batch = batch.slice(0, keep)
            taken.append(batch)
            count += batch.num_rows
        if limit > 0 and count == limit and self.left is None:
            self.left = next(self.batches, None)
            self.done = self.left is None
        self.sent += count
        return taken


@dataclass
class _Portal:
    prepared: _Prepared
    params: list[Any]
    result_formats: list[int]  # as Bind gave them: none, one for all, or one per column
    rows: _Rows | None = None


def _formats(codes: list[int], count: int, what: str) -> list[bool]:
    if not codes:
        return [False] * count
    if any(c not in (0, 1) for c in codes):
        raise ProtocolViolation(f"unsupported format code in Bind for {what}")
    if len(codes) == 1:
        return [codes[0] == 1] * count
    if len(codes) != count:
        raise ProtocolViolation(f"Bind has {len(codes)} format codes for {count} {what}")
    return [c == 1 for c in codes]


class Conversation:
    """Runs one client's messages after its startup, until it leaves."""

    def __init__(self, reader: wire.Reader, writer: wire.Writer, engine: Engine, peer: str):
        self.reader = reader
        self.writer = writer
        self.engine = engine
        self.peer = peer
        self._statements: dict[str, _Prepared] = {}
        self._portals: dict[str, _Portal] = {}
        self._skipping = False  # after an error in extended query mode, until Sync

    # -- notices from the engine, sent as they happen ---------------------------------------

    def notice(self, message: str) -> None:
        self.writer.add(
            wire.error_fields(
                b"N",
                {
                    wire.SEVERITY: "NOTICE",
                    wire.SEVERITY_V: "NOTICE",
                    wire.CODE: "00000",
                    wire.MESSAGE: message,
                },
            )
        )
        self.writer.flush()

    def run(self) -> None:
        self._ready()
        handlers: dict[bytes, Callable[[Payload], None]] = {
            b"Q": self._query,
            b"P": self._parse,
            b"B": self._bind,
            b"D": self._describe,
            b"E": self._execute,
            b"C": self._close,
            b"S": self._sync,
            b"H": lambda _: self.writer.flush(),
        }
        while True:
            kind, payload = self.reader.message()
            if kind == b"X":
                return
            handler = handlers.get(kind)
            if handler is None:
                if kind in (b"d", b"c", b"f"):
                    continue  # copy data after a failed COPY: ignored, as PostgreSQL does
                raise ProtocolViolation(f"invalid frontend message type {kind[0]}")
            if self._skipping and kind not in (b"S", b"Q"):
                continue
            try:
                handler(Payload(payload))
            except ProtocolViolation:
                raise
            except Exception as error:  # every failure goes to the client as an ErrorResponse
                self.error(error)
                if kind == b"Q":
                    self._ready()
                else:
                    self._skipping = True
                    self.writer.flush()  # as PostgreSQL: the error goes now, not at Sync

    # -- replies ------------------------------------------------------------------------

    def _ready(self) -> None:
        self.writer.add(wire.ready_for_query(self.engine.transaction_status))
        self.writer.flush()

    def error(self, error: BaseException) -> None:
        sqlstate = getattr(error, "sqlstate", None) or "XX000"
        message = str(error) or type(error).__name__
        fields = {
            wire.SEVERITY: "ERROR",
            wire.SEVERITY_V: "ERROR",
            wire.CODE: sqlstate,
            wire.MESSAGE: message,
        }
        position = getattr(error, "position", None)
        if position:
            fields[wire.POSITION] = str(position)
        if sqlstate == "XX000":
            log.exception("%s: internal error", self.peer, exc_info=error)
        else:
            log.info("%s: statement failed: %s %s", self.peer, sqlstate, message.splitlines()[0])
        self.writer.add(wire.error_fields(b"E", fields))

    def _row_description(self, columns: list[Column], binary: list[bool]) -> bytes:
        return wire.row_description(
            [
                wire.Field(c.name, c.type.oid, c.type.type.size, c.type.modifier, int(b))
                for c, b in zip(columns, binary, strict=True)
            ]
        )

    def _send_rows(self, rows: _Rows, limit: int, binary: list[bool]) -> None:
        columns = [c.type for c in rows.outcome.columns or []]
        for batch in rows.take(limit):
            self.writer.add(encoding.data_rows(batch, columns, binary))

    # -- COPY ---------------------------------------------------------------------------

    def _copy_out(self, copy: CopyOut) -> None:
        self.writer.add(wire.copy_response(b"H", copy.width))
        for messages in copy.pieces:
            self.writer.add(messages)
        self.writer.add(wire.COPY_DONE)
        self.writer.add(wire.command_complete(copy.tag(0)))

    def _copy_in(self, copy: CopyIn) -> None:
        """The client's rows until CopyDone (loaded) or CopyFail (nothing kept)."""
        self.writer.add(wire.copy_response(b"G", copy.width))
        self.writer.flush()
        try:
            while True:
                kind, payload = self.reader.message()
                if kind == b"d":
                    copy.write(payload)
                elif kind == b"c":
                    break
                elif kind == b"f":
                    reason = Payload(payload).cstring()
                    raise SqlError("57014", f"COPY from stdin failed: {reason}")
                elif kind not in (b"H", b"S"):  # Flush and Sync mean nothing during COPY
                    raise ProtocolViolation(f"unexpected message type {kind[0]} during COPY")
        except BaseException:
            copy.abort()
            raise
        self.writer.add(wire.command_complete(copy.finish()))

    # -- simple query -------------------------------------------------------------------

    def _query(self, payload: Payload) -> None:
        sql = payload.cstring()
        payload.end()
        self._skipping = False
        statements = self.engine.split(sql)
        if not statements:
            self.writer.add(wire.EMPTY_QUERY)
        for text in statements:
            outcome = self.engine.execute(text, [])
            if isinstance(outcome, CopyOut):
                self._copy_out(outcome)
            elif not isinstance(outcome, Outcome):
                self._copy_in(outcome)
            elif outcome.columns is not None:
                binary = [False] * len(outcome.columns)
                self.writer.add(self._row_description(outcome.columns, binary))
                rows = _Rows(outcome, outcome.batches())
                self._send_rows(rows, 0, binary)
                self.writer.add(wire.command_complete(outcome.tag(rows.sent)))
            else:
                self.writer.add(wire.command_complete(outcome.tag(0)))
        self._ready()

    # -- extended query -----------------------------------------------------------------

    def _parse(self, payload: Payload) -> None:
        name = payload.cstring()
        sql = payload.cstring()
        declared = payload.int32s()
        payload.end()
        statements = self.engine.split(sql)
        if len(statements) > 1:
            raise SqlError("42601", "cannot insert multiple commands into a prepared statement")
        text = statements[0] if statements else ""
        self.engine.check(text)
        inferred = self.engine.parameter_types(text)
        inferred += [0] * (len(declared) - len(inferred))
        oids = [
            declared[n] if n < len(declared) and declared[n] else oid
            for n, oid in enumerate(inferred)
        ]
        if name and name in self._statements:
            raise SqlError("42P05", f'prepared statement "{name}" already exists')
        self._statements[name] = _Prepared(text, oids)
        self.writer.add(wire.PARSE_COMPLETE)

    def _bind(self, payload: Payload) -> None:
        portal = payload.cstring()
        name = payload.cstring()
        formats = payload.int16s()
        count = payload.int16()
        raw = [payload.value() for _ in range(count)]
        result_formats = payload.int16s()
        payload.end()
        prepared = self._statement(name)
        if count != len(prepared.parameter_oids):
            raise ProtocolViolation(
                f"bind message supplies {count} parameters, but prepared statement "
                f'"{name}" requires {len(prepared.parameter_oids)}'
            )
        binary_params = _formats(formats, count, "parameters")
        params = [
            None
            if value is None
            else values.from_binary(value, oid)
            if is_binary
            else values.from_text(value.decode("utf-8"), oid)
            for value, oid, is_binary in zip(
                raw, prepared.parameter_oids, binary_params, strict=True
            )
        ]
        self._portals[portal] = _Portal(prepared, params, result_formats)
        self.writer.add(wire.BIND_COMPLETE)

    def _statement(self, name: str) -> _Prepared:
        prepared = self._statements.get(name)
        if prepared is None:
            raise SqlError("26000", f'prepared statement "{name}" does not exist')
        return prepared

    def _portal(self, name: str) -> _Portal:
        portal = self._portals.get(name)
        if portal is None:
            raise SqlError("34000", f'portal "{name}" does not exist')
        return portal

    def _portal_binary(self, portal: _Portal, columns: list[Column]) -> list[bool]:
        return _formats(portal.result_formats, len(columns), "result columns")

    def _describe(self, payload: Payload) -> None:
        kind = payload.byte()
        name = payload.cstring()
        payload.end()
        if kind == b"S":
            prepared = self._statement(name)
            # A parameter of no known type is described as text, and read as text.
            sent = [oid or TEXT.oid for oid in prepared.parameter_oids]
            self.writer.add(wire.parameter_description(sent))
            described = self.engine.describe(prepared.sql, None) if prepared.sql else None
            columns = described.columns if isinstance(described, Outcome) else described
            if columns is None:
                self.writer.add(wire.NO_DATA)
            else:
                self.writer.add(self._row_description(columns, [False] * len(columns)))
        elif kind == b"P":
            portal = self._portal(name)
            columns = None
            if portal.rows is None and portal.prepared.sql:
                described = self.engine.describe(portal.prepared.sql, portal.params)
                if isinstance(described, Outcome):  # run to learn its columns (SHOW MODELS)
                    portal.rows = _Rows(described, described.batches())
                else:
                    columns = described
            if portal.rows is not None:
                columns = portal.rows.outcome.columns
            if columns is None:
                self.writer.add(wire.NO_DATA)
            else:
                self.writer.add(
                    self._row_description(columns, self._portal_binary(portal, columns))
                )
        else:
            raise ProtocolViolation(f"invalid Describe target {kind!r}")

    def _execute(self, payload: Payload) -> None:
        name = payload.cstring()
        limit = payload.int32()
        payload.end()
        portal = self._portal(name)
        if not portal.prepared.sql:
            self.writer.add(wire.EMPTY_QUERY)
            return
        if portal.rows is None:
            outcome = self.engine.execute(portal.prepared.sql, portal.params)
            if isinstance(outcome, CopyOut):
                self._copy_out(outcome)
                return
            if not isinstance(outcome, Outcome):
                self._copy_in(outcome)
                return
            portal.rows = _Rows(
                outcome, outcome.batches() if outcome.columns is not None else iter(())
            )
        rows = portal.rows
        outcome = rows.outcome
        if outcome.columns is None:
            if not rows.done:
                rows.done = True
                self.writer.add(wire.command_complete(outcome.tag(0)))
            return
        binary = self._portal_binary(portal, outcome.columns)
        self._send_rows(rows, limit, binary)
        if rows.done:
            self.writer.add(wire.command_complete(outcome.tag(rows.sent)))
        else:
            self.writer.add(wire.PORTAL_SUSPENDED)

    def _close(self, payload: Payload) -> None:
        kind = payload.byte()
        name = payload.cstring()
        payload.end()
        if kind == b"S":
            self._statements.pop(name, None)
        elif kind == b"P":
            self._portals.pop(name, None)
        else:
            raise ProtocolViolation(f"invalid Close target {kind!r}")
        self.writer.add(wire.CLOSE_COMPLETE)

    def _sync(self, payload: Payload) -> None:
        payload.end()
        self._skipping = False
        self._portals.pop("", None)
        self._ready()
