"""Threat intelligence: EVE records that touch an indicator of a configured feed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from appliance.config import IntelConfig, ThreatIntelConfig
from appliance.errors import ConfigError
from appliance.events import EveRecord, make_finding
from appliance.intel import Indicator, IndicatorIndex, IntelError, load_feeds

logger = logging.getLogger(__name__)

# How much a match says, by indicator type. A file hash names one exact file and a URL
# one resource; a domain can be parked or re-registered; addresses are shared (hosting,
# CDNs, NAT) and change hands, networks more so; a JA3 fingerprint names a TLS library
# and its settings, which legitimate programs share.
_CONFIDENCE = {"md5": 0.9, "sha1": 0.9, "sha256": 0.9, "url": 0.85, "domain": 0.75,
               "ip": 0.6, "cidr": 0.5, "ja3": 0.4}  # fmt: skip
# A known-bad file on the wire is the strongest sign; a JA3 alone is a weak one.
_SEVERITY = {"md5": 1, "sha1": 1, "sha256": 1, "ja3": 3}
_ACTIONS = {
    "src_ip": ("exchanged traffic with {v}", "đã trao đổi dữ liệu với {v}"),
    "dest_ip": ("exchanged traffic with {v}", "đã trao đổi dữ liệu với {v}"),
    "dns.rrname": ("looked up the name {v} in DNS", "đã truy vấn DNS tên {v}"),
    "http.hostname": ("sent an HTTP request to {v}", "đã gửi yêu cầu HTTP tới {v}"),
    "http.url": ("requested the URL {v}", "đã truy cập URL {v}"),
    "tls.sni": ("opened a TLS connection to {v}", "đã mở kết nối TLS tới {v}"),
    "quic.sni": ("opened a QUIC connection to {v}", "đã mở kết nối QUIC tới {v}"),
    "tls.ja3.hash": ("ran a TLS client with fingerprint JA3 {v}",
                     "đã chạy một ứng dụng TLS có dấu vân tay JA3 {v}"),
    "quic.ja3.hash": ("ran a QUIC client with fingerprint JA3 {v}",
                      "đã chạy một ứng dụng QUIC có dấu vân tay JA3 {v}"),
    "fileinfo": ("received a file with hash {v}", "đã nhận một tệp có mã băm {v}"),
}  # fmt: skip
_KINDS_VI = {"ip": "địa chỉ IP", "cidr": "dải mạng", "domain": "tên miền", "url": "URL",
             "md5": "mã băm MD5", "sha1": "mã băm SHA-1", "sha256": "mã băm SHA-256",
             "ja3": "dấu vân tay JA3"}  # fmt: skip
_HASH_FIELDS = ("sha256", "sha1", "md5")
# Records whose addresses are checked: flows (every connection ends in one) and what
# Suricata logs while a connection is still open, for an early finding.
_ADDRESS_TYPES = frozenset({"flow", "alert", "dns", "http", "tls", "quic", "fileinfo", "ssh",
                            "smtp", "ftp", "smb", "rdp", "krb5"})  # fmt: skip
# No EVE record has this type: without indicators the runner hands the analyzer nothing
# (an empty set would mean every record).
_NOTHING = frozenset({"threat-intel:no-indicators"})


class Hit(NamedTuple):
    """One indicator seen in one record."""

    indicator: Indicator
    field: str
    value: str
    host: str | None


_NONE: tuple[Hit, ...] = ()


class ThreatIntelAnalyzer:
    """One finding per (indicator, host) per window when a record touches a listed IOC.

    Addresses are checked on every record it gets; names, URLs, hashes and JA3 only on
    the records that carry them, and only if a feed lists such indicators, so a record
    costs a few dict lookups (``record.data`` is parsed only when needed).

    A finding keeps the record's src_ip and dest_ip; its evidence names the ``host`` it
    is about: the other end of a listed address, the client that asked for a listed
    name or URL or ran a listed JA3, the receiver of a listed file. Findings come at the
    first sighting (not at the window's end), so a live sensor reports at once.
    """

    name = "threat_intel"
    #: load_analyzers passes the ``intel`` section (the feeds) as ``intel=``.
    needs_intel = True
    #: Set by init() from what the feeds list.
    event_types = _NOTHING

    def __init__(self, cfg: ThreatIntelConfig, *, intel: IntelConfig | None = None) -> None:
        self.cfg = cfg
        self.intel = intel or IntelConfig()
        self.index = IndicatorIndex(())
        self._match_ip: Callable[[str], Indicator | None] | None = None
        self._content: dict[str, Callable[[EveRecord], Sequence[Hit]]] = {}
        self._window_us = cfg.window_seconds * 1_000_000
        # (indicator type, value, host, window) of the findings made, oldest first.
        self._reported: dict[tuple[str, str, str | None, int], int] = {}
        self._latest = 0

    def init(self) -> None:
        """Load the feeds; a feed that cannot be read stops the start-up."""
        try:
            indicators, reports = load_feeds(self.intel)
        except IntelError as err:
            raise ConfigError(f"Threat intelligence feed: {err}") from err
        index = self.index = IndicatorIndex(indicators)
        self._match_ip = index.match_ip if index.has_addresses else None
        content: dict[str, Callable[[EveRecord], Sequence[Hit]]] = {}
        if index.has_domains:
            content["dns"] = self._dns_hits
        if index.has_domains or index.has_urls:
            content["http"] = self._http_hits
        if index.has_domains or index.has_ja3:
            content["tls"] = content["quic"] = self._tls_hits
        if index.has_hashes:
            content["fileinfo"] = self._file_hits
        self._content = content
        # Ask the runner for what can match, and for nothing at all without indicators.
        wanted = _ADDRESS_TYPES if index.has_addresses else frozenset(content)
        self.event_types = wanted or _NOTHING
        logger.info("Threat intelligence ready indicators=%d feeds=%d duplicates=%d.",
                    len(index), len(reports), index.duplicates)  # fmt: skip

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for the first sighting of each (indicator, host) in a window."""
        match_ip, content = self._match_ip, self._content
        out: list[bytes] = []
        for record in records:
            head = record.head
            if match_ip is not None:
                src, dest = head.src_ip, head.dest_ip
                if src and (ind := match_ip(src)) is not None:
                    self._report(record, Hit(ind, "src_ip", src, dest), out)
                if dest and (ind := match_ip(dest)) is not None:
                    self._report(record, Hit(ind, "dest_ip", dest, src), out)
            matcher = content.get(head.event_type)
            if matcher is not None:
                for hit in matcher(record):
                    self._report(record, hit, out)
        if out:
            self._evict()
        return out

    def shutdown(self) -> list[bytes]:
        """Findings are emitted as they happen; nothing is held back."""
        return []

    # -- matching (each returns the hits of one record) ----------------------------

    def _dns_hits(self, record: EveRecord) -> Sequence[Hit]:
        dns = record.data.get("dns") or {}
        name = dns.get("rrname")
        if name is None and isinstance(dns.get("queries"), list) and dns["queries"]:
            name = (dns["queries"][0] or {}).get("rrname")  # EVE dns version 3
        if isinstance(name, str) and (ind := self.index.match_domain(name)) is not None:
            return [Hit(ind, "dns.rrname", name, record.head.src_ip)]
        return _NONE

    def _http_hits(self, record: EveRecord) -> Sequence[Hit]:
        http = record.data.get("http") or {}
        host, url = http.get("hostname"), http.get("url")
        client = record.head.src_ip
        if not isinstance(host, str):
            return _NONE
        if isinstance(url, str) and (ind := self.index.match_url(host, url)) is not None:
            return [Hit(ind, "http.url", f"{host}{url}", client)]  # says more than the host
        if (ind := self.index.match_domain(host)) is not None:
            return [Hit(ind, "http.hostname", host, client)]
        return _NONE

    def _tls_hits(self, record: EveRecord) -> Sequence[Hit]:
        kind = record.head.event_type
        section = record.data.get(kind) or {}
        client = record.head.src_ip
        hits = []
        sni = section.get("sni")
        if isinstance(sni, str) and (ind := self.index.match_domain(sni)) is not None:
            hits.append(Hit(ind, f"{kind}.sni", sni, client))
        ja3 = (section.get("ja3") or {}).get("hash")
        if isinstance(ja3, str) and (ind := self.index.match_ja3(ja3)) is not None:
            hits.append(Hit(ind, f"{kind}.ja3.hash", ja3, client))
        return hits

    def _file_hits(self, record: EveRecord) -> Sequence[Hit]:
        info = record.data.get("fileinfo") or {}
        for name in _HASH_FIELDS:
            value = info.get(name)
            if isinstance(value, str) and (ind := self.index.match_hash(value)) is not None:
                # fileinfo records run in the file's direction: dest_ip received it.
                return [Hit(ind, f"fileinfo.{name}", value, record.head.dest_ip)]
        return _NONE

    # -- findings ------------------------------------------------------------------

    def _report(self, record: EveRecord, hit: Hit, out: list[bytes]) -> None:
        # Fixed windows of event time: records come roughly, not strictly, in time order
        # (Suricata's threads, flow timeouts), and a fixed window does not depend on it.
        window = record.ts // self._window_us
        ind = hit.indicator
        key = (ind.type, ind.value, hit.host, window)
        if key in self._reported:
            return
        self._reported[key] = window
        self._latest = max(self._latest, window)
        out.append(_finding(record, hit, self.cfg.window_seconds))

    def _evict(self) -> None:
        """Forget windows before the previous one, and the oldest pairs beyond the cap."""
        reported = self._reported
        while reported:
            key = next(iter(reported))
            if reported[key] >= self._latest - 1 and len(reported) <= self.cfg.max_tracked:
                break
            del reported[key]


def _finding(record: EveRecord, hit: Hit, window_seconds: int) -> bytes:
    head, ind = record.head, hit.indicator
    extra: dict[str, Any] = {"dest_port": head.dest_port, "proto": head.proto}
    if head.flow_id is not None:
        extra["flow_id"] = head.flow_id
    if head.community_id is not None:
        extra["community_id"] = head.community_id
    return make_finding(
        type="ioc-match",
        category="threat-intel",
        severity=_SEVERITY.get(ind.type, 2),
        confidence=_CONFIDENCE[ind.type],
        timestamp=head.timestamp,
        src_ip=head.src_ip,
        dest_ip=head.dest_ip,
        explanation=_explain(hit),
        evidence={
            "feed": ind.feed,
            "indicator": ind.value,
            "indicator_type": ind.type,
            "feed_line": ind.line,
            "reference": ind.ref,
            "matched_field": hit.field,
            "matched_value": hit.value,
            "host": hit.host,
            "event_type": head.event_type,
            "flow_ids": [head.flow_id] if head.flow_id is not None else [],
            "community_ids": [head.community_id] if head.community_id else [],
            "first_seen": head.timestamp,
            "window_seconds": window_seconds,
        },  # fmt: skip
        **extra,
    )


def _explain(hit: Hit) -> dict[str, str]:
    ind = hit.indicator
    field = "fileinfo" if hit.field.startswith("fileinfo.") else hit.field
    en, vi = _ACTIONS[field]
    host = hit.host or "a host"
    host_vi = hit.host or "một máy"
    return {
        "en": f"{host} {en.format(v=hit.value)}, which matches the {ind.type} indicator "
        f"{ind.value} of threat-intelligence feed '{ind.feed}'. Check which program on "
        f"{host} did this and look for other signs of compromise there; also check the "
        "feed entry, as lists can hold stale or shared addresses.",
        "vi": f"Máy {host_vi} {vi.format(v=hit.value)}, khớp với chỉ báo "
        f"{_KINDS_VI[ind.type]} {ind.value} trong nguồn tình báo mối đe dọa '{ind.feed}'. "
        f"Hãy kiểm tra chương trình nào trên {host_vi} đã làm việc này và tìm các dấu hiệu "
        "bị xâm nhập khác trên máy đó; đồng thời kiểm tra lại mục này trong nguồn, vì danh "
        "sách có thể chứa địa chỉ cũ hoặc dùng chung.",
    }
