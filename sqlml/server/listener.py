"""``sqlml serve``: accepts clients, one thread and one engine session each.

A CancelRequest arrives on a connection of its own and names a session by its process id
and secret key; the session's running statement is interrupted (57014). Ctrl-C or SIGTERM
stops accepting, cancels what runs and closes every session before the database.

With a users file, every client authenticates with SCRAM-SHA-256 (auth.py); with a TLS
context, an SSLRequest is accepted and the rest of the connection runs inside TLS.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import signal
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType

from sqlml.connection import Connection
from sqlml.server import auth, engine, pg_compat, protocol, wire

log = logging.getLogger("sqlml.serve")

# Like PostgreSQL's authentication_timeout: a client that stalls before it is in does not
# keep its thread forever.
AUTHENTICATION_TIMEOUT = 60.0
SASL_CONTINUE, SASL_FINAL, SASL = 11, 12, 10  # Authentication request codes
MAX_SASL_BYTES = 65535  # PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH


def check_address(host: str, authenticated: bool = False) -> str | None:
    """Without users to authenticate, only this machine may connect: what is wrong, if so."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or authenticated:
        return None
    return (
        f"refusing to listen on {host} without authentication: clients on other machines "
        "would reach the database with no password. Listen on 127.0.0.1 (the default), or "
        "give a users file with --users FILE (sqlml serve --users FILE --add-user NAME)"
    )


class _Link:
    """A client's socket and writer, both replaced by TLS ones after an accepted SSLRequest.
    Its read() takes exactly what is asked, no more: bytes a client sends after its
    SSLRequest must go to the TLS handshake, not sit in a buffer as if they were inside."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.writer = wire.Writer(sock)

    @property
    def tls(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def upgrade(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.writer = wire.Writer(self.sock)

    def read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)


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
    users: dict[str, auth.Verifier] | None = None  # None: trust, on loopback only
    tls: ssl.SSLContext | None = None
    _clients: dict[int, _Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _next_pid: int = 1000
    _listening: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)  # one per client

    def __post_init__(self) -> None:
        pg_compat.install(self.connection.backend.con, engine.server_version())  # type: ignore[attr-defined]

    def bind(self) -> int:
        problem = check_address(self.host, self.users is not None)
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
                thread = threading.Thread(
                    target=self._serve_client,
                    args=(sock, f"{address[0]}:{address[1]}"),
                    daemon=True,
                )
                thread.start()
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
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
        for thread in self._threads:
            thread.join(timeout=10)
        log.info("stopped")

    # -- one client ---------------------------------------------------------------------

    def _serve_client(self, sock: socket.socket, peer: str) -> None:
        threading.current_thread().name = f"sqlml-client {peer}"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(AUTHENTICATION_TIMEOUT)
        link = _Link(sock)
        stream = None
        client: _Client | None = None
        try:
            startup = self._startup(link)
            if startup is None:
                return
            if not self._authenticate(startup.get("user", ""), link, peer):
                return
            link.sock.settimeout(None)
            # Read ahead from here on: the socket (TLS or not) stays what it is.
            stream = link.sock.makefile("rb", buffering=65536)
            reader, writer = wire.Reader(stream), link.writer  # type: ignore[arg-type]
            client = self._register(link.sock)
            if client is None:
                self._refuse(writer, "53300", "sorry, too many clients already")
                return
            self._conversation(client, startup, reader, writer, peer)
        except wire.ProtocolViolation as violation:
            log.info("%s: protocol violation: %s", peer, violation)
            self._refuse(link.writer, violation.sqlstate, str(violation))
        except ssl.SSLError as error:
            log.info("%s: TLS failed: %s", peer, error.reason or error)
        except (wire.ClientGone, ConnectionError, OSError):
            pass
        finally:
            if client is not None:
                with self._lock:
                    self._clients.pop(client.pid, None)
                if client.session is not None:
                    client.session.close()
                log.info("%s: disconnected", peer)
            if stream is not None:
                stream.close()
            link.sock.close()

    def _startup(self, link: _Link) -> dict[str, str] | None:
        """The startup parameters, after answering an SSLRequest ('S' and TLS with a
        certificate, else 'N') and a GSSENCRequest ('N'); None for a CancelRequest (handled
        here)."""
        reader = wire.Reader(link)  # type: ignore[arg-type]
        while True:
            startup = reader.startup()
            if startup.code == wire.SSL_REQUEST and link.tls:
                raise wire.ProtocolViolation("SSLRequest inside TLS")
            if startup.code == wire.SSL_REQUEST and self.tls is not None:
                link.sock.sendall(b"S")
                link.upgrade(self.tls)
                continue
            if startup.code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
                link.sock.sendall(b"N")
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

    def _authenticate(self, user: str, link: _Link, peer: str) -> bool:
        """SCRAM-SHA-256 against the users file, True once the client is in; with no users
        file everyone is (bind() allows that on loopback only). An unknown user goes through
        the same exchange as a wrong password, so the answer does not tell them apart."""
        if self.users is None:
            return True
        verifier, writer = self.users.get(user), link.writer
        exchange = auth.ScramExchange(verifier, user)
        writer.add(wire.authentication(SASL, wire.cstring(auth.MECHANISM) + b"\x00"))
        writer.flush()
        try:
            payload = wire.Payload(_sasl_response(link))
            if payload.cstring() != auth.MECHANISM:
                raise wire.ProtocolViolation(
                    "client selected an invalid SASL authentication mechanism"
                )
            first = payload.value()
            if first is None:
                raise wire.ProtocolViolation("malformed SCRAM message: no initial response")
            payload.end()
            writer.add(wire.authentication(SASL_CONTINUE, exchange.server_first(first)))
            writer.flush()
            final = exchange.server_final(_sasl_response(link))
        except auth.ScramError as error:
            raise wire.ProtocolViolation(str(error)) from None
        if final is None:
            why = "wrong password" if verifier is not None else "no such user"
            log.warning('%s: password authentication failed for user "%s" (%s)', peer, user, why)
            self._refuse(writer, "28P01", f'password authentication failed for user "{user}"')
            return False
        writer.add(wire.authentication(SASL_FINAL, final))
        return True

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


def _sasl_response(link: _Link) -> bytes:
    """Framed here rather than by wire.Reader, to hold a client that has not logged in to
    PostgreSQL's limit for an authentication message instead of Reader's 256 MB."""
    header = link.read(5)
    if len(header) < 5:
        raise wire.ClientGone
    kind, length = struct.unpack("!ci", header)
    if kind != b"p":
        raise wire.ProtocolViolation(f"expected SASL response, got message type {kind!r}")
    if not 4 <= length <= MAX_SASL_BYTES + 4:
        raise wire.ProtocolViolation(f"invalid SASL response length {length}")
    payload = link.read(length - 4)
    if len(payload) < length - 4:
        raise wire.ClientGone
    return payload
