"""Pure helpers about logins: login URIs, user names from credentials, LDAP binds."""

from __future__ import annotations

import base64

import pytest

from sensors.analyzers.login import (
    FlowMemo,
    basic_auth_user,
    clean_user,
    form_user,
    is_login_uri,
    ldap_simple_binds,
    may_name_login,
    sasl_plain_user,
)


@pytest.mark.parametrize(
    "url",
    ["/login", "/dvwa/login.php", "/wp-login.php", "/Account/LogOn?ReturnUrl=%2F",
     "/users/sign_in", "/j_security_check", "/api/v4/users/login", "/api/authenticate",
     "/auth/log-in/"],
)  # fmt: skip
def test_login_uris_are_recognised(url: str) -> None:
    assert is_login_uri(url)
    assert may_name_login(f'{{"url":"{url}"}}'.encode())


@pytest.mark.parametrize(
    "url",
    ["/", "/logout", "/blogin", "/logins-history", "/search?q=login", "/oauth/token"],
)
def test_other_uris_are_not(url: str) -> None:
    assert not is_login_uri(url)


def test_basic_credentials_give_the_user_only() -> None:
    def token(text: bytes) -> str:
        return base64.b64encode(text).decode()

    assert basic_auth_user(f"Basic {token(b'test:1:34')}") == "test"  # the password has a colon
    assert basic_auth_user(f"basic   {token(b'admin:x').rstrip('=')}") == "admin"  # no padding
    assert basic_auth_user(f"Basic {token(b':secret')}") == ""
    assert basic_auth_user("Bearer abc.def.ghi") is None
    assert basic_auth_user("Basic !!!not-base64") is None
    assert basic_auth_user(f"Basic {token(b'no-colon')}") is None


def test_sasl_plain_gives_the_authentication_identity() -> None:
    assert (
        sasl_plain_user(base64.b64encode(b"\0jane@example.com\0pw").decode()) == "jane@example.com"
    )
    assert sasl_plain_user(base64.b64encode(b"admin\0jane\0pw").decode()) == "jane"
    assert sasl_plain_user(base64.b64encode(b"jane pw").decode()) is None


def test_user_names_are_cleaned_for_evidence() -> None:
    assert clean_user("  bob\x07 ") == "bob?"
    assert clean_user("x" * 500) == "x" * 128
    assert clean_user("<empty>") is None and clean_user("") is None and clean_user(5) is None


@pytest.mark.parametrize(
    ("body", "user"),
    [("username=admin&password=password&Login=Login&user_token=1", "admin"),
     ("log=editor&pwd=x&wp-submit=Log+In", "editor"),
     ("j_username=ann&j_password=x", "ann"),
     ("email=a%40example.com&passwd=x", "a@example.com"),
     ('{"login_id":"toto","password":"tototo"}', "toto"),
     ("pin=1&password=x", ""),
     ("q=password&page=2", None),
     ("{not json", None)],
)  # fmt: skip
def test_form_bodies_with_a_password_field_name_their_user(body: str, user: str | None) -> None:
    assert form_user(body) == user


def test_ldap_simple_binds_are_found_message_by_message() -> None:
    def bind(dn: bytes, password: bytes, long_form: bool = False) -> bytes:
        inner = b"\x02\x01\x03\x04" + bytes([len(dn)]) + dn + b"\x80" + bytes([len(password)])
        inner += password
        op = b"\x60" + (
            b"\x84" + len(inner).to_bytes(4, "big") if long_form else bytes([len(inner)])
        )
        message = b"\x02\x01\x07" + op + inner
        return b"\x30" + bytes([len(message)]) + message

    search = b"\x30\x05\x02\x01\x02\x63\x00"
    payload = bind(b"cn=a", b"pw1") + search + bind(b"cn=b,dc=x", b"pw22", long_form=True)
    binds = ldap_simple_binds(payload)
    assert [(dn, payload[s:e]) for dn, s, e in binds] == [("cn=a", b"pw1"), ("cn=b,dc=x", b"pw22")]
    assert ldap_simple_binds(bind(b"cn=a", b"pw1")[:-2]) == []  # truncated
    assert ldap_simple_binds(b"GET / HTTP/1.1\r\n") == []


def test_flow_memo_forgets_the_oldest_entry_first() -> None:
    memo: FlowMemo[int, str] = FlowMemo(2)
    memo.put(1, "a")
    memo.put(2, "b")
    memo.put(1, "a2")  # refreshed: now the newest
    memo.put(3, "c")
    assert (memo.get(1), memo.get(2), memo.pop(3), len(memo)) == ("a2", None, "c", 1)
