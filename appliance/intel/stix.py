"""STIX 2.1 bundles: indicators with simple patterns, without the ``stix2`` library.

A pattern is simple when every comparison is ``<object path> = '<string>'`` on an
object path spanwatch can match, and comparisons and observations are joined by OR
only (parentheses allowed): then it is the same as a list of indicators. Anything else
(AND, FOLLOWEDBY, other operators, qualifiers such as WITHIN) needs the STIX pattern
engine's semantics and is refused with a ValueError, which the feed loader counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: STIX object paths -> our indicator type.
_PATHS = {
    "ipv4-addr:value": "ip",
    "ipv6-addr:value": "ip",
    "domain-name:value": "domain",
    "url:value": "url",
    "network-traffic:dst_ref.value": "ip",
    "network-traffic:src_ref.value": "ip",
    "file:hashes.md5": "md5",
    "file:hashes.'md5'": "md5",
    "file:hashes.sha1": "sha1",
    "file:hashes.'sha-1'": "sha1",
    "file:hashes.sha256": "sha256",
    "file:hashes.'sha-256'": "sha256",
}
_QUOTED = r"'(?:[^'\\]|\\.)*'"
_STEP = rf"(?:[a-z0-9_-]+|{_QUOTED})"
_TOKEN_RE = re.compile(
    rf"""\s*(?:
        (?P<path>[a-z0-9][a-z0-9_-]*:{_STEP}(?:\.{_STEP}|\[(?:\d+|\*)\])*)
      | (?P<string>{_QUOTED})
      | (?P<punct>\[|\]|\(|\))
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<word>[a-z_]+)
      | (?P<other>\S+?)
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_pattern(pattern: str) -> list[tuple[str, str]]:
    """(type, value) pairs of a simple pattern; ValueError names what makes it complex."""
    parser = _Parser(_tokens(pattern))
    found = parser.pattern()
    rest = parser.peek()
    if rest is not None:
        raise ValueError(f"unsupported {rest[1]!r} after the observations")
    return found


def stix_entries(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(STIX id, object) of every ``indicator`` in a bundle (or a lone indicator)."""
    if isinstance(data, dict) and data.get("type") == "bundle":
        objects = data.get("objects")
        if not isinstance(objects, list):
            raise ValueError("the bundle has no 'objects' list")
    elif isinstance(data, dict) and data.get("type") == "indicator":
        objects = [data]
    else:
        raise ValueError('not a STIX 2.1 bundle (no "type": "bundle")')
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "indicator":
            yield str(obj.get("id") or ""), obj


def _tokens(pattern: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    text = pattern.strip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            break
        kind = match.lastgroup or "other"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the OR-only subset of the STIX pattern grammar."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str) -> None:
        token = self.peek()
        if token is None or token[1] != value:
            if token is not None and token[0] == "word":
                raise ValueError(f"unsupported {token[1].upper()!r}")
            found = "the end" if token is None else repr(token[1])
            raise ValueError(f"expected {value!r}, found {found}")
        self.pos += 1

    def is_or(self) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == "OR":
            self.pos += 1
            return True
        return False

    def pattern(self) -> list[tuple[str, str]]:
        found = self.observation()
        while self.is_or():
            found += self.observation()
        return found

    def observation(self) -> list[tuple[str, str]]:
        token = self.peek()
        if token is not None and token[1] == "(":
            self.take("(")
            found = self.pattern()
            self.take(")")
            return found
        self.take("[")
        found = self.comparisons()
        self.take("]")
        return found

    def comparisons(self) -> list[tuple[str, str]]:
        found = self.comparison()
        while self.is_or():
            found += self.comparison()
        return found

    def comparison(self) -> list[tuple[str, str]]:
        token = self.peek()
        if token is not None and token[1] == "(":
            self.take("(")
            found = self.comparisons()
            self.take(")")
            return found
        if token is None or token[0] != "path":
            raise ValueError(f"expected an object path, found {token[1] if token else 'the end'!r}")
        self.pos += 1
        kind = _PATHS.get(token[1].lower())
        if kind is None:
            raise ValueError(f"unsupported object path {token[1]}")
        op = self.peek()
        if op is None or op[1] != "=":
            raise ValueError(f"unsupported operator {op[1] if op else 'none'!r} (only '=')")
        self.pos += 1
        value = self.peek()
        if value is None or value[0] != "string":
            raise ValueError("expected a quoted string after '='")
        self.pos += 1
        return [(kind, _unquote(value[1]))]


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])
