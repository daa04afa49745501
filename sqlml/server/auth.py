"""Who may connect to ``sqlml serve``: a users file of SCRAM-SHA-256 verifiers, the server's
side of the SCRAM exchange (RFC 5802 and 7677, as PostgreSQL does it) and the TLS context.

The file holds one ``name:verifier`` line a user, the verifier in PostgreSQL's format
(``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, as in pg_authid), so it
never holds a password. Channel binding is not offered: only SCRAM-SHA-256, not -PLUS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import ssl
import stringprep
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)
SALT_BYTES = 16
NONCE_BYTES = 18

# Salts for users that do not exist derive from this, so asking twice gets the same salt
# and the answer does not tell a missing user from a wrong password.
_MOCK_KEY = secrets.token_bytes(32)


class ConfigError(Exception):
    """A users file or certificate that cannot be used; the message says which and why."""


class ScramError(Exception):
    """A client's SCRAM message that breaks the protocol."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ScramError("malformed SCRAM message: invalid base64") from None


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


@dataclass(frozen=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def make(cls, password: str, iterations: int = ITERATIONS) -> Verifier:
        salt = secrets.token_bytes(SALT_BYTES)
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(
            iterations, salt, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")
        )

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Raises ValueError for anything but PostgreSQL's SCRAM-SHA-256 format."""
        mechanism, _, rest = text.partition("$")
        count_salt, _, keys = rest.partition("$")
        count, _, salt = count_salt.partition(":")
        stored, _, server = keys.partition(":")
        if mechanism != MECHANISM or not count.isdigit() or int(count) < 1:
            raise ValueError("not a SCRAM-SHA-256 verifier")
        try:
            decoded = [base64.b64decode(p, validate=True) for p in (salt, stored, server)]
        except binascii.Error:
            raise ValueError("invalid base64 in the verifier") from None
        if not decoded[0] or len(decoded[1]) != 32 or len(decoded[2]) != 32:
            raise ValueError("wrong key sizes in the verifier")
        return cls(int(count), *decoded)

    @classmethod
    def mock(cls, user: str) -> Verifier:
        """For a user that does not exist: a stable salt, keys no proof matches."""
        salt = _hmac(_MOCK_KEY, user.encode())[:SALT_BYTES]
        return cls(ITERATIONS, salt, secrets.token_bytes(32), secrets.token_bytes(32))

    def __str__(self) -> str:
        return (
            f"{MECHANISM}${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )


# -- SASLprep (RFC 4013), which libpq applies to the password before hashing it -------------


def saslprep(password: str) -> str:
    """The prepared password; like PostgreSQL, one that cannot be prepared is used as is."""
    if password.isascii():  # PostgreSQL leaves ASCII alone, control characters too
        return password
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared or any(_prohibited(c) for c in prepared) or not _bidi_ok(prepared):
        return password
    return prepared


def _prohibited(c: str) -> bool:
    return any(
        check(c)
        for check in (
            stringprep.in_table_a1,
            stringprep.in_table_c12,
            stringprep.in_table_c21_c22,
            stringprep.in_table_c3,
            stringprep.in_table_c4,
            stringprep.in_table_c5,
            stringprep.in_table_c6,
            stringprep.in_table_c7,
            stringprep.in_table_c8,
            stringprep.in_table_c9,
        )
    )


def _bidi_ok(text: str) -> bool:
    if not any(stringprep.in_table_d1(c) for c in text):
        return True
    return (
        not any(stringprep.in_table_d2(c) for c in text)
        and stringprep.in_table_d1(text[0])
        and stringprep.in_table_d1(text[-1])
    )


# -- the users file -------------------------------------------------------------------------


def load_users(path: str | Path) -> dict[str, Verifier]:
    """Each user's verifier; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the users file {path}: {_reason(error)}") from None
    users = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, verifier = line.partition(":")
        try:
            users[name] = Verifier.parse(verifier.strip())
        except ValueError as error:
            raise ConfigError(
                f"{path}, line {number}: {error} (expected name:SCRAM-SHA-256$...; "
                f"sqlml serve --users {path} --add-user NAME writes one)"
            ) from None
    if not users:
        raise ConfigError(
            f"no users in {path}: add one with sqlml serve --users {path} --add-user NAME"
        )
    return users


def add_user(path: str | Path, name: str, password: str) -> bool:
    """Writes ``name``'s verifier into the file (mode 0600), replacing any line of the same
    user; True if the user was there before."""
    if not name or any(c in name for c in ":\r\n") or name.startswith("#"):
        raise ConfigError(f"invalid user name {name!r}: no ':' or line break, not starting '#'")
    if not password:
        raise ConfigError("the password is empty")
    target = Path(path)
    try:
        lines = target.read_text(encoding="utf-8").splitlines() if target.exists() else []
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the users file {path}: {_reason(error)}") from None

    def same_user(line: str) -> bool:
        return line.partition(":")[0] == name

    kept = [line for line in lines if not same_user(line)]
    kept.append(f"{name}:{Verifier.make(password)}")
    # A new file beside the old one, renamed over it: readers never see half a file, and
    # mkstemp makes it 0600 before anything is written.
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(kept) + "\n")
        os.replace(temporary, target)
    except OSError as error:
        raise ConfigError(f"cannot write the users file {path}: {_reason(error)}") from None
    return any(same_user(line) for line in lines)


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


# -- TLS ------------------------------------------------------------------------------------


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    for path in (cert, key):
        try:
            Path(path).open("rb").close()
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {_reason(error)}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["postgresql"])  # what PostgreSQL 17's libpq asks for
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as error:
        raise ConfigError(
            f"{cert} and {key} are not a PEM certificate and its private key "
            f"({error.reason or error})"
        ) from None
    return context


# -- the exchange ---------------------------------------------------------------------------


class ScramExchange:
    """The server's two steps: client-first to server-first, client-final to server-final
    (None when the proof is wrong, or the user does not exist)."""

    def __init__(self, verifier: Verifier | None, user: str):
        self._verifier = verifier or Verifier.mock(user)
        self._doomed = verifier is None  # a mock's keys must never let anyone in
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def server_first(self, client_first: bytes) -> bytes:
        text = _decode(client_first)
        flag, authzid, bare = _split(text, 3)
        if flag.startswith("p="):
            raise ScramError(
                "malformed SCRAM message: the client selected SCRAM-SHA-256 without channel "
                "binding, but the message includes channel binding data"
            )
        if flag not in ("n", "y"):
            raise ScramError(f"malformed SCRAM message: unexpected channel binding flag {flag!r}")
        if authzid:
            raise ScramError("client uses authorization identity, but it is not supported")
        attributes = bare.split(",")
        # PostgreSQL ignores n= (the user is the startup packet's) and any extension after r=.
        if len(attributes) < 2 or not attributes[0].startswith("n="):
            raise ScramError("malformed SCRAM message: expected n= first")
        client_nonce = _attribute(attributes[1], "r")
        if not client_nonce or any(not ("!" <= c <= "~") or c == "," for c in client_nonce):
            raise ScramError("malformed SCRAM message: invalid nonce")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._nonce = client_nonce + _b64(secrets.token_bytes(NONCE_BYTES))
        v = self._verifier
        self._server_first = f"r={self._nonce},s={_b64(v.salt)},i={v.iterations}"
        return self._server_first.encode()

    def server_final(self, client_final: bytes) -> bytes | None:
        text = _decode(client_final)
        without_proof, found, proof_text = text.rpartition(",p=")
        if not found:
            raise ScramError("malformed SCRAM message: no proof")
        attributes = without_proof.split(",")
        binding = _attribute(attributes[0], "c")
        if _unb64(binding) != self._gs2_header.encode():
            raise ScramError("SCRAM channel binding check failed")
        if len(attributes) < 2 or _attribute(attributes[1], "r") != self._nonce:
            raise ScramError("SCRAM nonce mismatch")
        proof = _unb64(proof_text)
        if len(proof) != 32:
            raise ScramError("malformed SCRAM message: invalid proof length")
        message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(self._verifier.stored_key, message)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        stored = hashlib.sha256(client_key).digest()
        if not hmac.compare_digest(stored, self._verifier.stored_key) or self._doomed:
            return None
        return f"v={_b64(_hmac(self._verifier.server_key, message))}".encode()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("malformed SCRAM message: invalid UTF-8") from None


def _split(text: str, parts: int) -> list[str]:
    pieces = text.split(",", parts - 1)
    if len(pieces) != parts:
        raise ScramError("malformed SCRAM message: too few attributes")
    return pieces


def _attribute(text: str, name: str) -> str:
    if not text.startswith(f"{name}="):
        raise ScramError(f"malformed SCRAM message: expected attribute {name!r}")
    return text[len(name) + 1 :]
