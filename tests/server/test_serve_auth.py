"""``sqlml serve --users/--tls-cert``: SCRAM-SHA-256 logins and TLS, with real clients (psycopg,
psql, raw bytes) against one server that has both."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cli_support import sqlml_cli
from serve_support import Served, start_server

PASSWORD = "correct horse, battery staple"


@dataclass
class Secured:
    served: Served
    users: Path
    cert: Path
    key: Path


def _add_user(users: Path, name: str, password: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sqlml", "serve", "--users", str(users), "--add-user", name]
    return subprocess.run(command, input=password + "\n", capture_output=True, text=True)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
    ]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured")
    users = folder / "users"
    # alice twice: the second password replaces the first.
    for name, password in [("alice", "first try"), ("bob", "bobs"), ("alice", PASSWORD)]:
        added = _add_user(users, name, password)
        assert added.returncode == 0, added.stderr
    cert, key = _self_signed(folder)
    served = start_server(
        folder / "shop.duckdb",
        "--users",
        str(users),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    yield Secured(served, users, cert, key)
    served.process.terminate()
    served.process.wait(timeout=30)


def test_the_users_file_holds_verifiers_not_passwords(secured: Secured) -> None:
    text = secured.users.read_text()
    assert PASSWORD not in text and "bobs" not in text
    b64 = r"[A-Za-z0-9+/=]+"
    assert re.fullmatch(
        rf"(bob|alice):SCRAM-SHA-256\$4096:{b64}\${b64}:{b64}\n(alice):SCRAM-SHA-256\$4096:.+\n",
        text,
    )
    assert stat.S_IMODE(secured.users.stat().st_mode) == 0o600


def test_the_right_password_gets_in_with_and_without_tls(secured: Secured) -> None:
    for sslmode, encrypted in [("disable", False), ("require", True)]:
        with secured.served.connect(user="alice", password=PASSWORD, sslmode=sslmode) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.pgconn.ssl_in_use is encrypted


@pytest.mark.parametrize("user", ["alice", "nobody"], ids=["wrong-password", "unknown-user"])
def test_a_wrong_password_or_unknown_user_is_refused_alike(secured: Secured, user: str) -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        secured.served.connect(user=user, password="guess", sslmode="disable")
    assert f'password authentication failed for user "{user}"' in str(refused.value)
    if refused.value.sqlstate is not None:
        assert refused.value.sqlstate == "28P01"
    # The server's log is read by a thread of this process: the line may come a moment after
    # the client has its answer.
    said = f'password authentication failed for user "{user}"'
    for _ in range(100):
        if any(said in line for line in secured.served.log):
            break
        time.sleep(0.05)
    assert any(said in line for line in secured.served.log)


def test_psql_logs_in_with_pgpassword(secured: Secured) -> None:
    psql = shutil.which("psql")
    assert psql, "psql is on PATH"
    dsn = f"host=127.0.0.1 port={secured.served.port} dbname=shop user=alice sslmode=require"
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    result = subprocess.run(
        [psql, dsn, "-XAtc", "SELECT 40 + 2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "42\n"), result.stderr
    env["PGPASSWORD"] = "wrong"
    result = subprocess.run(
        [psql, dsn, "-XAtc", "SELECT 1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert 'password authentication failed for user "alice"' in result.stderr


def test_tls_is_refused_by_a_server_without_a_certificate(served: Served) -> None:
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        served.connect(sslmode="require")


# -- raw bytes: what libpq never sends ------------------------------------------------------


def _raw_sasl_start(served: Served, user: str, client_first: bytes) -> tuple[socket.socket, bytes]:
    """Startup as ``user``, then a SASLInitialResponse; the socket and the server's answer."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0shop\0\0".encode()
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    kind, payload = _message(sock)
    assert (kind, payload) == (b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\0\0")
    initial = b"SCRAM-SHA-256\0" + struct.pack("!i", len(client_first)) + client_first
    sock.sendall(b"p" + struct.pack("!i", len(initial) + 4) + initial)
    return sock, b"".join(_message(sock))


def _message(sock: socket.socket) -> tuple[bytes, bytes]:
    header = sock.recv(5, socket.MSG_WAITALL)
    (length,) = struct.unpack("!i", header[1:])
    return header[:1], sock.recv(length - 4, socket.MSG_WAITALL)


def test_channel_binding_is_refused(secured: Secured) -> None:
    sock, answer = _raw_sasl_start(secured.served, "alice", b"p=tls-server-end-point,,n=,r=abc")
    with sock:
        assert answer.startswith(b"E") and b"C08P01\0" in answer
        assert b"channel binding" in answer


def test_a_huge_message_before_login_is_refused_unread(secured: Secured) -> None:
    with socket.create_connection(("127.0.0.1", secured.served.port), timeout=10) as sock:
        body = struct.pack("!i", 196608) + b"user\0alice\0\0"
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        assert _message(sock)[0] == b"R"
        sock.sendall(b"p" + struct.pack("!i", 200_000_000))
        kind, refusal = _message(sock)
    assert kind == b"E" and b"C08P01\0" in refusal and b"length 200000000" in refusal


def test_an_unknown_user_gets_the_same_salt_each_time_then_28P01(secured: Secured) -> None:
    salts = []
    for _ in range(2):
        sock, answer = _raw_sasl_start(secured.served, "nobody", b"n,,n=,r=clientnonce")
        with sock:
            assert answer[:5] == b"R" + struct.pack("!i", 11)
            fields = dict(part.split("=", 1) for part in answer[5:].decode().split(","))
            proof = base64.b64encode(bytes(32)).decode()
            final = f"c=biws,r={fields['r']},p={proof}".encode()
            sock.sendall(b"p" + struct.pack("!i", len(final) + 4) + final)
            kind, refusal = _message(sock)
        assert fields["r"].startswith("clientnonce") and fields["i"] == "4096"
        assert kind == b"E" and b"C28P01\0" in refusal
        assert b'password authentication failed for user "nobody"' in refusal
        salts.append(base64.b64decode(fields["s"]))
    assert salts[0] == salts[1] and len(salts[0]) == 16


# -- the command line -----------------------------------------------------------------------


def test_bad_arguments_are_said_clearly(secured: Secured, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    db, users = str(tmp_path / "x.duckdb"), str(secured.users)
    cases = [
        (["--tls-cert", str(secured.cert)], "--tls-cert and --tls-key go together"),
        (["--users", str(tmp_path / "missing")], "cannot read the users file"),
        (["--tls-cert", str(garbage), "--tls-key", str(secured.key)], "not a PEM certificate"),
        (["--tls-cert", str(tmp_path / "no.pem"), "--tls-key", str(secured.key)], "no.pem"),
        (["--host", "0.0.0.0"], "refusing to listen on 0.0.0.0 without authentication"),
    ]
    for extra, said in cases:
        result = sqlml_cli("serve", db, "--port", "0", *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert said in result.stderr, (extra, result.stderr)
    result = sqlml_cli("serve", "--add-user", "carol")
    assert result.returncode == 2 and "--users FILE" in result.stderr
    result = sqlml_cli("serve", "--users", users, "--add-user", "carol", stdin="\n")
    assert result.returncode == 1 and "no password" in result.stderr
    assert "carol" not in secured.users.read_text()
