"""HTTP/1.1 messages and the small HTML pages the demo servers return."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Sequence

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80"
)
WORDS = (
    "agency",
    "budget",
    "citizen",
    "council",
    "directive",
    "district",
    "grant",
    "housing",
    "licence",
    "minutes",
    "notice",
    "permit",
    "policy",
    "procurement",
    "record",
    "register",
    "report",
    "service",
    "statute",
    "tender",
    "transport",
    "zoning",
)

# A header name and its value.
Header = tuple[str, str]


def request(
    method: str,
    host: str,
    path: str,
    *,
    user_agent: str = BROWSER_UA,
    headers: Sequence[Header] = (),
    body: bytes = b"",
) -> bytes:
    """Return an HTTP/1.1 request; a body gets a Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {user_agent}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def response(
    status: int,
    reason: str,
    body: bytes,
    *,
    date: str,
    server: str = "nginx/1.24.0",
    content_type: str = "text/html; charset=utf-8",
    headers: Sequence[Header] = (),
) -> bytes:
    """Return an HTTP/1.1 response with Date, Server, Content-Type and Content-Length."""
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Date: {date}",
        f"Server: {server}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def page(title: str, rng: random.Random, size: int) -> bytes:
    """Return an HTML page of roughly size bytes made of plausible paragraphs."""
    parts = [f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n"]
    parts.append(f"<h1>{title}</h1>\n")
    length = sum(len(part) for part in parts)
    while length < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16)))
        paragraph = f"<p>{sentence.capitalize()}.</p>\n"
        parts.append(paragraph)
        length += len(paragraph)
    parts.append("</body></html>\n")
    return "".join(parts).encode("ascii")


def http_date(epoch_s: float) -> str:
    """Return an IMF-fixdate for epoch_s."""
    return email.utils.formatdate(epoch_s, usegmt=True)
