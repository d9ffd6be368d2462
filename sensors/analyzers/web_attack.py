"""Web attacks in HTTP requests: SQL injection, path traversal, XSS and command injection.

Suricata's ``http`` records carry the request line, the host, the user agent and the
referer. Attack tools put their payloads there, usually percent-encoded, often twice.
The analyzer decodes the request (up to three rounds, ``+`` as a space), and tests it for
the grammar of each attack class rather than for a tool or a page: a UNION SELECT or a
quoted tautology, ``../`` chains or system files, a script tag or an event handler
attribute, a shell command after a separator or a JNDI lookup. One finding per client,
server and class in the configured window names the requests that crossed the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from appliance.config import WebAttackConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet
from sensors.analyzers.repeat import RepeatGate

_SECOND = 1_000_000
#: Requests quoted in a finding.
_SAMPLES = 5
_MAX_FIELD = 4096

#: Attack classes: (pattern, confidence). Each pattern is matched against the decoded,
#: lower-cased request line (and user agent and referer).
_PATTERNS: dict[str, list[tuple[re.Pattern[str], float]]] = {
    "sql-injection": [
        (re.compile(r"\bunion\b[\s/*()+]+(?:all[\s/*()+]+)?select\b"), 0.9),
        (re.compile(r"['\"`)]\s*(?:or|and|\|\||&&)\s*\(?\s*['\"]?\s*\w+['\"]?\s*"
                    r"(?:=|<>|!=|<|>|\blike\b)\s*['\"]?\w*"), 0.8),
        (re.compile(r"\b(?:or|and)\s+(\d+)\s*=\s*\1\b"), 0.7),
        (re.compile(r"information_schema\.|\bsysobjects\b|\bpg_sleep\s*\(|\bsleep\s*\(\s*\d"
                    r"|\bbenchmark\s*\(\s*\d|\bwaitfor\s+delay\b|\bxp_cmdshell\b"
                    r"|\bload_file\s*\(|\binto\s+(?:out|dump)file\b"), 0.9),
        (re.compile(r"['\"]\s*\)?\s*;?\s*(?:--|#|/\*)"), 0.6),
    ],
    "path-traversal": [
        (re.compile(r"(?:\.\.[/\\]){2,}"), 0.8),
        (re.compile(r"/etc/(?:passwd|shadow|group|hosts)\b|\bboot\.ini\b|\bwin\.ini\b"
                    r"|/proc/self/(?:environ|cmdline)|\bwindows[/\\]system32\b"), 0.85),
    ],
    "cross-site-scripting": [
        (re.compile(r"<\s*/?\s*script\b"), 0.9),
        (re.compile(r"<\s*(?:img|svg|iframe|body|a|div|input|video|details)\b[^>]*"
                    r"\bon[a-z]+\s*="), 0.9),
        (re.compile(r"\bjavascript\s*:"), 0.7),
        (re.compile(r"\bdocument\s*\.\s*(?:cookie|location|write)\b"), 0.7),
    ],
    "command-injection": [
        (re.compile(r"\$\{\s*(?:jndi|lower|upper|env|sys|::-)"), 0.95),
        (re.compile(r"(?:;|\||&&|`|\$\()\s*(?:ls|id|cat|uname|whoami|wget|curl|nc|ncat"
                    r"|bash|sh|python\d?|perl|ping|nslookup|powershell|cmd(?:\.exe)?|echo"
                    r"|chmod|rm|tftp)\b"), 0.85),
        (re.compile(r"=\s*(?:ls|cat|uname|wget|curl|nc|chmod|ping)\s+(?:-[a-z]+|/)"), 0.75),
        (re.compile(r"/bin/(?:ba)?sh\b|\bcmd\.exe\b|\bpowershell(?:\.exe)?\s+-"), 0.8),
    ],
}

#: Text that each pattern cannot match without (any one of these substrings): most
#: requests show none, and a substring test costs far less than a regular expression.
_NEEDS: dict[str, list[tuple[str, ...]]] = {
    "sql-injection": [
        ("union",), ("'", '"', "`", ")"), ("=",),
        ("information_schema.", "sysobjects", "sleep", "benchmark", "waitfor", "xp_cmdshell",
         "load_file", "into"),
        ("'", '"'),
    ],
    "path-traversal": [("..",), ("/etc/", "boot.ini", "win.ini", "/proc/self/", "system32")],
    "cross-site-scripting": [("<",), ("<",), ("javascript",), ("document",)],
    "command-injection": [
        ("${",), (";", "|", "&", "`", "$("), ("=",), ("/bin/", "cmd.exe", "powershell"),
    ],
}  # fmt: skip
_CHECKS = [
    (kind, pattern, confidence, _NEEDS[kind][i])
    for kind, patterns in _PATTERNS.items()
    for i, (pattern, confidence) in enumerate(patterns)
]

_NAMES = {
    "sql-injection": ("SQL injection", "chèn mã SQL (SQL injection)"),
    "path-traversal": ("path traversal", "duyệt thư mục trái phép (path traversal)"),
    "cross-site-scripting": ("cross-site scripting", "chèn mã kịch bản (XSS)"),
    "command-injection": ("command injection", "chèn lệnh hệ điều hành (command injection)"),
}


def decode_request(value: str) -> str:
    """Percent-decoded (up to three rounds, ``+`` as space), lower-cased ``value``."""
    text = value[:_MAX_FIELD]
    for _ in range(3):
        decoded = unquote_plus(text) if "?" in text or "+" in text else unquote(text)
        if decoded == text:
            break
        text = decoded
    return text.lower()


def classify(text: str) -> dict[str, float]:
    """Attack classes whose grammar ``text`` (decoded) shows, with the best confidence."""
    found: dict[str, float] = {}
    contains = text.__contains__
    for kind, pattern, confidence, needs in _CHECKS:
        if confidence > found.get(kind, 0.0) and any(map(contains, needs)):
            if pattern.search(text):
                found[kind] = confidence
    return found


@dataclass
class _Hits:
    """Requests of one batch that showed one attack class, client to server."""

    first: EveRecord
    confidence: float
    requests: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0


class WebAttackAnalyzer:
    """Finds attack payloads in HTTP requests."""

    name = "web_attack"
    event_types = frozenset({"http"})

    def __init__(self, cfg: WebAttackConfig) -> None:
        self.cfg = cfg
        self._exempt = AddressSet(cfg.exempt_clients)
        # (client, server, class) -> when it was last reported (microseconds)
        self._reported = RepeatGate(cfg.window_seconds * _SECOND, cfg.max_tracked)

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for the attack classes seen in this batch's requests."""
        hits: dict[tuple[str, str, str], _Hits] = {}
        for record in records:
            head = record.head
            client, server = head.src_ip, head.dest_ip
            if not client or not server or (self._exempt and client in self._exempt):
                continue
            http = record.data.get("http")
            if not isinstance(http, dict):
                continue
            url = str(http.get("url") or "")
            texts = [decode_request(url)]
            texts += [decode_request(str(http[k])) for k in ("http_user_agent", "http_refer")
                      if http.get(k)]  # fmt: skip
            found: dict[str, float] = {}
            for text in texts:
                for kind, confidence in classify(text).items():
                    found[kind] = max(found.get(kind, 0.0), confidence)
            for kind, confidence in found.items():
                item = hits.setdefault((client, server, kind), _Hits(record, confidence))
                item.confidence = max(item.confidence, confidence)
                item.count += 1
                if len(item.requests) < _SAMPLES:
                    item.requests.append({
                        "timestamp": head.timestamp, "method": http.get("http_method"),
                        "hostname": http.get("hostname"), "url": url[:512],
                        "status": http.get("status"), "flow_id": head.flow_id,
                        "community_id": head.community_id,
                    })  # fmt: skip
        return [self._finding(key, item) for key, item in hits.items()
                if self._reported.due(key, item.first.ts)]

    def shutdown(self) -> list[bytes]:
        """Every finding is reported as its batch is seen."""
        return []

    def _finding(self, key: tuple[str, str, str], item: _Hits) -> bytes:
        client, server, kind = key
        head = item.first.head
        answered = [r["status"] for r in item.requests if r["status"]]
        succeeded = any(200 <= int(s) < 300 for s in answered if str(s).isdigit())
        en, vi = _NAMES[kind]
        where = f"{server}:{head.dest_port}"
        return make_finding(
            type=kind, category="exploit", severity=2 if succeeded or not answered else 3,
            confidence=item.confidence, timestamp=head.timestamp, src_ip=client,
            dest_ip=server,
            explanation={
                "en": f"{client} sent {item.count} HTTP request(s) carrying {en} payloads to "
                      f"{where}" + (" and the server answered with success: check whether "
                                    "the application is vulnerable." if succeeded else "."),
                "vi": f"{client} đã gửi {item.count} yêu cầu HTTP chứa mã tấn công {vi} tới "
                      f"{where}" + (" và máy chủ trả lời thành công: cần kiểm tra ứng dụng "
                                    "có bị lỗ hổng không." if succeeded else "."),
            },
            evidence={"attack": kind, "requests": item.requests, "request_count": item.count,
                      "server_answered_success": succeeded,
                      "window_seconds": self.cfg.window_seconds},
            dest_port=head.dest_port, app_proto="http", flow_id=head.flow_id,
            community_id=head.community_id,
        )  # fmt: skip
