"""Malware's HTTP habits, from ``http`` records.

* A Windows executable served from a URL that does not say so: droppers fetch their
  payload from paths such as ``/video/6JvA8/`` with ``application/x-msdownload``; software
  vendors name their installers.
* A user agent that is one random-looking word (``vBKbaQgjyvRRbcgfvlsc``): every browser
  and library names itself with ``product/version``; malware families randomise it.
* A browser-like POST to a bare IP address outside HOME_NET: browsers post to names; much
  malware posts to its controller's address (low severity: some software does too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from appliance.config import NetworksConfig, SuspiciousHttpConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet
from sensors.analyzers.repeat import RepeatGate

_SECOND = 1_000_000
_EXE_TYPES = frozenset({"application/x-msdownload", "application/x-dosexec",
                        "application/x-msdos-program", "application/x-ms-installer"})  # fmt: skip
_EXE_EXTENSIONS = re.compile(r"\.(?:exe|dll|msi|msu|msp|cab|sys|scr|com|bin|ocx)$", re.I)
_RANDOM_UA = re.compile(r"^[A-Za-z]{10,}$")
_BARE_IP = re.compile(r"^\[?[0-9a-fA-F:.]+\]?(?::\d+)?$")
_TEXT = {
    "disguised-executable-download": (
        "{client} downloaded a Windows executable from {host}{path}, a URL that does not "
        "name it as one (how droppers fetch their payload).", "malware", 2, 0.75,
        "{client} đã tải một tệp thực thi Windows từ {host}{path}, địa chỉ không cho thấy đó "
        "là tệp thực thi (cách mã độc tải phần tiếp theo)."),
    "random-user-agent": (
        "{client} made HTTP requests to {host} with the user agent \"{ua}\", one random word "
        "where browsers and libraries name themselves (typical of malware).",
        "command-and-control", 2, 0.7,
        "{client} đã gửi yêu cầu HTTP tới {host} với user agent \"{ua}\", một chuỗi ngẫu "
        "nhiên thay vì tên trình duyệt hay thư viện (dấu hiệu thường gặp của mã độc)."),
    "post-to-bare-ip": (
        "{client} posted data to the bare address {host} outside the network with a "
        "browser's user agent; browsers post to names, malware often to its controller's "
        "address.", "command-and-control", 3, 0.5,
        "{client} đã gửi dữ liệu (POST) tới địa chỉ IP trần {host} bên ngoài mạng với user "
        "agent của trình duyệt; trình duyệt gửi tới tên miền, còn mã độc thường gửi thẳng "
        "tới địa chỉ máy điều khiển."),
}  # fmt: skip


def _kinds(http: dict[str, Any], server_outside: bool, cfg: SuspiciousHttpConfig) -> list[str]:
    kinds = []
    ctype = str(http.get("http_content_type") or "").split(";")[0].strip().lower()
    path = str(http.get("url") or "").split("?", 1)[0]
    if ctype in _EXE_TYPES and not _EXE_EXTENSIONS.search(path.rstrip("/")):
        kinds.append("disguised-executable-download")
    agent = str(http.get("http_user_agent") or "")
    if _RANDOM_UA.match(agent) and sum(c.isupper() for c in agent[1:]) >= 2:
        kinds.append("random-user-agent")
    host = str(http.get("hostname") or "")
    if (cfg.post_to_bare_ip and server_outside and http.get("http_method") == "POST"
            and agent.startswith("Mozilla/") and _BARE_IP.match(host)):  # fmt: skip
        kinds.append("post-to-bare-ip")
    return kinds


class SuspiciousHttpAnalyzer:
    """Finds malware's HTTP habits in http records."""

    name = "suspicious_http"
    event_types = frozenset({"http"})
    needs_networks = True

    def __init__(self, cfg: SuspiciousHttpConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        self._home = AddressSet((networks or NetworksConfig()).home)
        self._exempt = AddressSet(cfg.exempt_servers)
        self._reported = RepeatGate(cfg.window_seconds * _SECOND, cfg.max_tracked)

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Every finding is reported as its batch is seen."""
        return []

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for this batch's requests."""
        out = []
        for record in records:
            head = record.head
            client, server = head.src_ip, head.dest_ip
            if not client or not server or (self._exempt and server in self._exempt):
                continue
            http = record.data.get("http")
            if not isinstance(http, dict):
                continue
            for kind in _kinds(http, server not in self._home, self.cfg):
                if self._reported.due((client, server, kind), record.ts):
                    out.append(self._finding(record, http, kind))
        return out

    def _finding(self, record: EveRecord, http: dict[str, Any], kind: str) -> bytes:
        head = record.head
        en, category, severity, confidence, vi = _TEXT[kind]
        values = {"client": head.src_ip, "host": str(http.get("hostname") or head.dest_ip)[:255],
                  "path": str(http.get("url") or "").split("?", 1)[0][:200],
                  "ua": str(http.get("http_user_agent") or "")[:100]}  # fmt: skip
        return make_finding(
            type=kind, category=category, severity=severity, confidence=confidence,
            timestamp=head.timestamp, src_ip=head.src_ip, dest_ip=head.dest_ip,
            explanation={"en": en.format(**values), "vi": vi.format(**values)},
            evidence={"hostname": values["host"], "url": str(http.get("url") or "")[:512],
                      "method": http.get("http_method"), "status": http.get("status"),
                      "user_agent": values["ua"], "content_type": http.get("http_content_type"),
                      "flow_id": head.flow_id, "community_id": head.community_id,
                      "window_seconds": self.cfg.window_seconds},
            dest_port=head.dest_port, app_proto="http", flow_id=head.flow_id,
            community_id=head.community_id,
        )  # fmt: skip
