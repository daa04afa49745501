"""``sqlml serve``: accepts clients, one thread and one engine session each.

A CancelRequest arrives on a connection of its own and names a session by its process id
and secret key; the session's running statement is interrupted (57014). Ctrl-C or SIGTERM
stops accepting, cancels what runs and closes every session before the database.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType

from sqlml.connection import Connection
from sqlml.server import engine, pg_compat, protocol, wire

log = logging.getLogger("sqlml.serve")


def check_address(host: str) -> str | None:
    """Without users to authenticate, only this machine may connect: what is wrong, if so."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"refusing to listen on {host} without authentication: clients on other machines "
        "would reach the database with no password. Listen on 127.0.0.1 (the default)"
    )


@dataclass
class _Client:
    pid: int
    key: int
    session: engine.SqlmlEngine | None = None
    sock: socket.socket | None = None


@dataclass
class Server:
    connection: Connection
    host: str = "127.0.0.1"
    port: int = 5433
    max_connections: int = 100
    _clients: dict[int, _Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _next_pid: int = 1000
    _listening: socket.socket | None = None

    def __post_init__(self) -> None:
        pg_compat.install(self.connection.backend.con, engine.server_version())  # type: ignore[attr-defined]

    def bind(self) -> int:
        problem = check_address(self.host)
        if problem:
            raise ValueError(problem)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((self.host, self.port))
        listening.listen(128)
        listening.settimeout(0.5)  # to notice a stop between clients
        self._listening = listening
        self.port = listening.getsockname()[1]
        return self.port

    def serve_forever(self) -> None:
        assert self._listening is not None, "bind() first"
        with self._stop_on_signals():
            while not self._stopping.is_set():
                try:
                    sock, address = self._listening.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                threading.Thread(
                    target=self._serve_client,
                    args=(sock, f"{address[0]}:{address[1]}"),
                    daemon=True,
                ).start()
        self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("stopping (%s)", signal.Signals(signum).name)
            self.stop()

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _shutdown(self) -> None:
        if self._listening is not None:
            self._listening.close()
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            if client.session is not None:
                client.session.cancel()
            if client.sock is not None:
                with suppress(OSError):
                    client.sock.shutdown(socket.SHUT_RDWR)
        for thread in threading.enumerate():
            if thread.name.startswith("sqlml-client") and thread is not threading.current_thread():
                thread.join(timeout=10)
        log.info("stopped")

    # -- one client ---------------------------------------------------------------------

    def _serve_client(self, sock: socket.socket, peer: str) -> None:
        threading.current_thread().name = f"sqlml-client {peer}"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = sock.makefile("rb", buffering=65536)
        reader, writer = wire.Reader(stream), wire.Writer(sock)  # type: ignore[arg-type]
        client: _Client | None = None
        try:
            startup = self._startup(reader, sock)
            if startup is None:
                return
            client = self._register(sock)
            if client is None:
                self._refuse(writer, "53300", "sorry, too many clients already")
                return
            self._conversation(client, startup, reader, writer, peer)
        except wire.ProtocolViolation as violation:
            log.info("%s: protocol violation: %s", peer, violation)
            self._refuse(writer, violation.sqlstate, str(violation))
        except (wire.ClientGone, ConnectionError, OSError):
            pass
        finally:
            if client is not None:
                with self._lock:
                    self._clients.pop(client.pid, None)
                if client.session is not None:
                    client.session.close()
                log.info("%s: disconnected", peer)
            stream.close()
            sock.close()

    def _startup(self, reader: wire.Reader, sock: socket.socket) -> dict[str, str] | None:
        """The startup parameters, after answering SSL and GSSAPI requests with 'N';
        None for a CancelRequest (handled here)."""
        while True:
            startup = reader.startup()
            if startup.code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
                sock.sendall(b"N")
                continue
            if startup.code == wire.CANCEL_REQUEST:
                payload = wire.Payload(startup.payload)
                self._cancel(payload.int32(), payload.int32() & 0xFFFFFFFF)
                return None
            if startup.code >> 16 != 3:
                raise wire.ProtocolViolation(
                    f"unsupported frontend protocol {startup.code >> 16}.{startup.code & 0xFFFF}: "
                    "server supports 3.0"
                )
            return startup.parameters()

    def _register(self, sock: socket.socket) -> _Client | None:
        with self._lock:
            if len(self._clients) >= self.max_connections:
                return None
            self._next_pid += 1
            client = _Client(self._next_pid, secrets.randbits(32), sock=sock)
            self._clients[client.pid] = client
            return client

    def _cancel(self, pid: int, key: int) -> None:
        with self._lock:
            client = self._clients.get(pid)
        if client is not None and client.key == key and client.session is not None:
            log.info("cancel request for session %d", pid)
            client.session.cancel()

    def _conversation(
        self,
        client: _Client,
        startup: dict[str, str],
        reader: wire.Reader,
        writer: wire.Writer,
        peer: str,
    ) -> None:
        conversation: protocol.Conversation | None = None

        def notice(message: str) -> None:
            if conversation is not None:
                conversation.notice(message)

        def report(name: str, value: str) -> None:
            writer.add(wire.parameter_status(name, value))

        session = engine.SqlmlEngine(self.connection, notice, report)
        client.session = session
        user = startup.get("user", "")
        session.settings["session_authorization"] = user or "sqlml"
        session.settings["application_name"] = startup.get("application_name", "")
        log.info(
            "%s: connected: user %s, database %s, application %r",
            peer,
            user,
            startup.get("database", user),
            session.settings["application_name"],
        )
        writer.add(wire.authentication(0))
        for name in sorted(engine.REPORTED):
            writer.add(wire.parameter_status(name, session.settings[name]))
        writer.add(wire.backend_key_data(client.pid, client.key))
        conversation = protocol.Conversation(reader, writer, session, peer)
        conversation.run()

    @staticmethod
    def _refuse(writer: wire.Writer, sqlstate: str, message: str) -> None:
        try:
            writer.add(
                wire.error_fields(
                    b"E",
                    {
                        wire.SEVERITY: "FATAL",
                        wire.SEVERITY_V: "FATAL",
                        wire.CODE: sqlstate,
                        wire.MESSAGE: message,
                    },
                )
            )
            writer.flush()
        except wire.ClientGone:
            pass
