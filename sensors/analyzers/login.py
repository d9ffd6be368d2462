"""Logins as EVE shows them: services by port, login URIs, user names, per-flow memory.

Pure helpers shared by the brute-force and cleartext-credentials analyzers. Nothing here
keeps or returns a password: user names only.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Generic, TypeVar
from urllib.parse import parse_qsl

import orjson

#: Well-known TCP ports of services with a login, by IANA assignment.
SERVICE_BY_PORT = {
    21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 88: "kerberos", 110: "pop3",
    139: "smb", 143: "imap", 389: "ldap", 445: "smb", 465: "smtp", 512: "rexec",
    513: "rlogin", 587: "smtp", 636: "ldaps", 993: "imap", 995: "pop3", 3268: "ldap",
    3269: "ldaps", 3389: "rdp",
}  # fmt: skip
#: Longest user name kept; longer ones are cut (a name is evidence, not a payload).
MAX_USER_CHARS = 128

# A path segment naming a login: /login, /Logon.aspx, /wp-login.php, /users/sign_in,
# /j_security_check, /api/authenticate. Bounded by / . - _ so that /blogin or /catalogue
# do not match, and /logout never does.
_LOGIN_SEGMENT = re.compile(
    r"(?:^|[/._-])(?:log[-_]?[io]n|sign[-_]?[io]n|j_security_check|authenticate)(?:$|[/._-])",
    re.IGNORECASE,
)

# Stems of those words: a cheap test of a raw EVE line before parsing it.
_LOGIN_HINTS = (b"log", b"sign", b"j_security_check", b"authenticate")
#: Field names of a login form's user, lower case (WordPress: log; Java EE: j_username).
_USER_FIELDS = ("username", "user", "login", "email", "log", "j_username", "uname", "userid")
_SECRET_WORDS = ("pass", "pwd", "secret")

K = TypeVar("K")
V = TypeVar("V")


def is_login_uri(url: str) -> bool:
    """Whether the path of ``url`` (query string ignored) names a login endpoint."""
    path = url.split("?", 1)[0]
    return len(path) <= 4096 and _LOGIN_SEGMENT.search(path) is not None


def may_name_login(raw: bytes) -> bool:
    """Whether a raw EVE line may hold a login URI (no false negatives, some false positives)."""
    low = raw.lower()
    return any(hint in low for hint in _LOGIN_HINTS)


def clean_user(value: object) -> str | None:
    """A user name fit for evidence: text, stripped, printable, at most MAX_USER_CHARS."""
    if not isinstance(value, str):
        return None
    text = "".join(ch if ch.isprintable() else "?" for ch in value.strip()[:MAX_USER_CHARS])
    return text if text and text != "<empty>" else None


def basic_auth_user(header: str) -> str | None:
    """The user of an HTTP ``Basic`` credential (RFC 7617: ``base64(user:password)``).

    None for other schemes or undecodable values. The user-id cannot contain a colon,
    so everything before the first one is the user.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    decoded = decode_base64(token.strip())
    if decoded is None or b":" not in decoded:
        return None
    return clean_user(decoded.split(b":", 1)[0].decode("utf-8", "replace")) or ""


def sasl_plain_user(token: str) -> str | None:
    """The authentication identity of a SASL PLAIN response (RFC 4616: authzid NUL authcid
    NUL passwd), as sent by ``AUTH PLAIN`` in SMTP, POP3 and IMAP."""
    decoded = decode_base64(token.strip())
    if decoded is None or decoded.count(b"\0") != 2:
        return None
    return clean_user(decoded.split(b"\0")[1].decode("utf-8", "replace")) or ""


def form_user(body: str) -> str | None:
    """The user of a login form body (URL-encoded or JSON) that carries a password field:
    '' when no field names the user, None when no field looks like a password."""
    fields: list[tuple[str, object]]
    if body.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        fields = list(parsed.items()) if isinstance(parsed, dict) else []
    else:
        fields = list(parse_qsl(body[:16384], keep_blank_values=True))
    names = [(str(key).lower(), value) for key, value in fields]
    if not any(_is_secret_name(name) for name, _ in names):
        return None
    for name, value in sorted(names, key=lambda item: item[0] not in _USER_FIELDS):
        if not _is_secret_name(name) and (
            name in _USER_FIELDS or any(w in name for w in ("user", "login", "mail"))
        ):
            return clean_user(value) or ""
    return ""


def _is_secret_name(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS)


def decode_base64(token: str) -> bytes | None:
    """Standard base64 with or without padding; None if it is not base64."""
    if not token or len(token) > 8192:
        return None
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_payload(value: object) -> bytes:
    """The bytes of an EVE base64 field such as an alert's ``payload`` (empty if none)."""
    if not isinstance(value, str) or not value:
        return b""
    try:
        return base64.b64decode(value)
    except ValueError:
        return b""


def ldap_simple_binds(payload: bytes) -> list[tuple[str, int, int]]:
    """(bind DN, start, end of the password) of each LDAP simple BindRequest (RFC 4511
    4.2) among the LDAP messages that make up ``payload``. An empty password is an
    anonymous bind."""
    binds, pos = [], 0
    while pos < len(payload):
        try:
            length, body = _ber(payload, pos, 0x30)  # LDAPMessage SEQUENCE
        except ValueError:
            break
        bind = _simple_bind(payload[: body + length], body)
        if bind is not None:
            binds.append(bind)
        pos = body + length
    return binds


def _simple_bind(data: bytes, pos: int) -> tuple[str, int, int] | None:
    try:
        length, pos = _ber(data, pos, 0x02)  # messageID
        pos = _ber(data, pos + length, 0x60)[1]  # [APPLICATION 0] BindRequest
        length, pos = _ber(data, pos, 0x02)  # version
        length, pos = _ber(data, pos + length, 0x04)  # name (LDAPDN)
        name = data[pos : pos + length].decode("utf-8", "replace")
        length, pos = _ber(data, pos + length, 0x80)  # authentication: simple [0]
    except ValueError:
        return None
    if pos + length > len(data):
        return None
    return name, pos, pos + length


def _ber(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(length, content offset) of the BER element at ``pos``, which must carry ``tag``."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("unexpected BER element")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad BER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return length, pos


class FlowMemo(Generic[K, V]):
    """A bounded map (e.g. flow id -> user name); the oldest entry goes first when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: dict[K, V] = {}

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``, forgetting the oldest entry if full."""
        self._items.pop(key, None)
        self._items[key] = value
        if len(self._items) > self.capacity:
            del self._items[next(iter(self._items))]

    def get(self, key: K) -> V | None:
        """The value for ``key``, if still remembered."""
        return self._items.get(key)

    def pop(self, key: K) -> V | None:
        """The value for ``key``, forgotten."""
        return self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
