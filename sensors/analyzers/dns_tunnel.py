"""DNS tunnels, exfiltration in DNS names, domain generation algorithms (DGA).

From Suricata's ``dns`` records, per host and registered domain over a time window:

* **dns-exfiltration**: many distinct names whose labels left of the domain carry
  encoded data (long, with letters and digits mixed as hex/base32/base64 do, or bytes
  outside the hostname alphabet), asked as ordinary A/AAAA queries;
* **dns-tunnel**: the same with TXT/NULL/CNAME/MX-type queries, whose answers can carry
  data back (iodine, dnscat2), or many such queries for distinct names whose answers
  add up to kilobytes of data (commands in TXT records);
* **dga**: one host gets NXDOMAIN for many different registered domains that look
  machine-made, or contacts (DNS, HTTP Host, TLS server name) a domain whose registered
  label is a hex string, as hash-based DGAs make.

A resolver's forwarded queries are attributed to the inside host that asked it, so the
resolver itself is not reported. Reverse lookups (``.arpa``), underscore service names
(``_ldap._tcp``, DKIM) and single-label names are never tunnels. Tunnels that avoid DNS
(ICMP, DNS over HTTPS) are the covert_channel analyzer's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from appliance.config import DnsTunnelConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.domain import is_hex_label, looks_encoded, looks_random, split_name

logger = logging.getLogger(__name__)

_SECOND = 1_000_000
_EVIDENCE_IDS = 20
_MAX_NAMES = 256  # distinct names remembered per host and domain (thresholds are ~20)
#: A host's contact with one DGA-looking domain is reported once a day, not per window.
_NAME_REPEAT_US = 86_400 * _SECOND
_MAX_ASKED = 100_000
#: Query types whose answers can carry arbitrary data back to the client.
PAYLOAD_TYPES = frozenset({"TXT", "NULL", "CNAME", "MX", "ANY", "KEY", "PRIVATE"})


class _Query(msgspec.Struct):
    rrname: str | None = None
    rrtype: str | None = None


class _Answer(msgspec.Struct):
    rrtype: str | None = None
    rdata: Any = None


class _Dns(msgspec.Struct):
    type: str | None = None
    rrname: str | None = None
    rrtype: str | None = None
    rcode: str | None = None
    queries: list[_Query] | None = None  # EVE DNS version 3 (Suricata 8)
    answers: list[_Answer] | None = None


class _Named(msgspec.Struct):
    hostname: str | None = None
    sni: str | None = None


class _Record(msgspec.Struct):
    dns: _Dns | None = None
    http: _Named | None = None
    tls: _Named | None = None


_decoder = msgspec.json.Decoder(_Record)


@dataclass(slots=True)
class _Window:
    """What one host asked under one domain (or of one server) since ``start_us``."""

    start_us: int
    first_ts: str
    last_ts: str = ""
    queries: int = 0
    payload_queries: int = 0
    names: set[str] = field(default_factory=set)
    encoded: int = 0
    payload_names: int = 0
    answer_bytes: int = 0
    zone: list[str] | None = None
    samples: list[str] = field(default_factory=list)
    types: dict[str, int] = field(default_factory=dict)
    servers: set[str] = field(default_factory=set)
    flow_ids: list[int] = field(default_factory=list)
    community_ids: list[str] = field(default_factory=list)
    nxdomains: dict[str, bool] = field(default_factory=dict)
    reported_us: int | None = None  # when this host and domain were last reported

    def note(self, record: EveRecord) -> None:
        """Remember the record's time, server and flow as evidence."""
        self.last_ts = record.head.timestamp
        if len(self.servers) < 8 and record.head.dest_ip:
            self.servers.add(record.head.dest_ip)
        flow_id = record.head.flow_id
        if flow_id is not None and len(self.flow_ids) < _EVIDENCE_IDS:
            if flow_id not in self.flow_ids:
                self.flow_ids.append(flow_id)
                self.community_ids.append(record.head.community_id or "")


class DnsTunnelAnalyzer:
    """Finds DNS tunnels, DNS exfiltration and DGA lookups."""

    name = "dns_tunnel"
    event_types = frozenset({"dns", "http", "tls"})

    def __init__(self, cfg: DnsTunnelConfig) -> None:
        self.cfg = cfg
        self._window_us = cfg.window_seconds * _SECOND
        self._ignored = frozenset(d.lower().strip(".") for d in cfg.ignore_domains)
        self._windows: dict[tuple[str, str], _Window] = {}
        self._asked: dict[tuple[str, str], str] = {}  # (server, domain) -> asking host
        self._split_cache: dict[str, tuple[str, list[str]] | None] = {}
        self._reported: dict[tuple[str, ...], int] = {}  # one-off findings -> until
        self._watermark = 0
        self._swept = 0

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for hosts whose DNS crossed a threshold in this batch."""
        out: list[bytes] = []
        for record in records:
            try:
                parsed = _decoder.decode(record.raw)
            except msgspec.DecodeError:
                continue
            self._watermark = max(self._watermark, record.ts)
            if parsed.dns is not None:
                self._on_dns(record, parsed.dns, out)
            else:
                self._on_contact(record, parsed, out)
        if self._watermark - self._swept > self._window_us:
            self._sweep()
        return out

    def shutdown(self) -> list[bytes]:
        """Findings are emitted as thresholds are crossed: nothing is held back."""
        return []

    # -- DNS ------------------------------------------------------------------------

    def _on_dns(self, record: EveRecord, dns: _Dns, out: list[bytes]) -> None:
        name, rrtype = dns.rrname, dns.rrtype or ""
        if name is None and dns.queries:
            name, rrtype = dns.queries[0].rrname, dns.queries[0].rrtype or ""
        client, server = record.head.src_ip or "", record.head.dest_ip or ""
        is_query = dns.type in ("query", "request")
        if not (name and client and server) or not (
            is_query or dns.rcode == "NXDOMAIN" or rrtype in PAYLOAD_TYPES
        ):
            return  # an ordinary answer (or the CNAMEs of an A lookup): nothing to count
        parts = self._split(name)
        if parts is None:
            return
        domain, data = parts
        key_domain = domain or "@" + server
        asker = self._asked.get((client, key_domain))
        if asker is not None and asker != client:
            return  # a resolver forwarding what asker asked: counted for asker
        window = self._window(client, key_domain, record)
        window.note(record)
        if is_query:
            self._remember_asker(server, key_domain, client)
            self._count_query(window, name, data, rrtype)
            if domain and self.cfg.dga_hex_names and is_hex_label(domain.split(".")[0]):
                self._report_once(out, ("dga-name", client, domain), record,
                                  lambda: self._hex_finding(record, domain, "dns"))  # fmt: skip
        elif dns.rcode == "NXDOMAIN":
            if domain and rrtype in ("A", "AAAA"):
                self._count_nxdomain(record, client, domain, out)
        else:
            for answer in dns.answers or []:
                if answer.rrtype in PAYLOAD_TYPES and answer.rdata is not None:
                    window.answer_bytes += len(str(answer.rdata))
        if not self._is_quiet(window, record):
            self._check_tunnel(record, client, key_domain, window, out)

    def _split(self, name: str) -> tuple[str, list[str]] | None:
        """:func:`split_name`, None for ignored domains too; cached, as names repeat."""
        if name in self._split_cache:
            return self._split_cache[name]
        parts = split_name(name)
        if parts is not None and self._is_ignored(name):
            parts = None
        if len(self._split_cache) >= _MAX_ASKED:
            self._split_cache.clear()
        self._split_cache[name] = parts
        return parts

    def _count_query(self, window: _Window, name: str, data: list[str], rrtype: str) -> None:
        window.queries += 1
        window.types[rrtype] = window.types.get(rrtype, 0) + 1
        is_payload = rrtype in PAYLOAD_TYPES
        window.payload_queries += is_payload
        key = name.lower().rstrip(".")
        if key in window.names or len(window.names) >= _MAX_NAMES:
            return
        window.names.add(key)
        window.payload_names += is_payload
        if looks_encoded(data, self.cfg.min_data_chars):
            window.encoded += 1
        elif not is_payload:
            return
        labels = key.split(".")[1:]  # the zone: the labels all data-carrying names end in
        zone, common = window.zone if window.zone is not None else labels, 0
        while common < min(len(zone), len(labels)) and zone[-1 - common] == labels[-1 - common]:
            common += 1
        window.zone = zone[len(zone) - common :]
        if len(window.samples) < 3:
            window.samples.append(key[:120])

    def _check_tunnel(
        self, record: EveRecord, client: str, domain: str, window: _Window, out: list[bytes]
    ) -> None:
        cfg, unique = self.cfg, len(window.names)
        is_encoded = (window.encoded >= cfg.min_unique_names
                      and window.encoded >= cfg.min_encoded_share * unique)  # fmt: skip
        carries_answers = (window.payload_queries >= cfg.min_payload_queries
                           and window.payload_names >= cfg.min_payload_names
                           and window.answer_bytes >= cfg.min_answer_bytes)  # fmt: skip
        if carries_answers or (is_encoded and 2 * window.payload_queries >= window.queries):
            kind = "dns-tunnel"
        elif is_encoded:
            kind = "dns-exfiltration"
        else:
            return
        window.reported_us = record.ts
        out.append(self._tunnel_finding(record, kind, client, domain, window))

    def _count_nxdomain(
        self, record: EveRecord, client: str, domain: str, out: list[bytes]
    ) -> None:
        window = self._window(client, "", record)  # per host, across domains
        window.note(record)
        if domain not in window.nxdomains and len(window.nxdomains) < _MAX_NAMES:
            window.nxdomains[domain] = looks_random(domain.split(".")[0])
            if len(window.samples) < 5:
                window.samples.append(domain)
        count = len(window.nxdomains)
        randoms = sum(window.nxdomains.values())
        if (self._is_quiet(window, record) or count < self.cfg.min_nxdomain_domains
                or randoms < self.cfg.min_random_share * count):  # fmt: skip
            return
        window.reported_us = record.ts
        out.append(self._nxdomain_finding(record, client, window, count, randoms))

    # -- state ----------------------------------------------------------------------

    def _window(self, client: str, domain: str, record: EveRecord) -> _Window:
        key = (client, domain)
        window = self._windows.get(key)
        if window is None or record.ts >= window.start_us + self._window_us:
            if window is None and len(self._windows) >= self.cfg.max_tracked:
                del self._windows[next(iter(self._windows))]
            old = self._windows.pop(key, None)
            window = self._windows[key] = _Window(record.ts, record.head.timestamp)
            window.reported_us = old.reported_us if old is not None else None
        return window

    def _is_quiet(self, window: _Window, record: EveRecord) -> bool:
        """Whether the host and domain were reported less than a window ago: a tunnel that
        spans two counting windows is one finding, not two."""
        return window.reported_us is not None and record.ts < window.reported_us + self._window_us

    def _remember_asker(self, server: str, domain: str, client: str) -> None:
        key = (server, domain)
        if key not in self._asked and len(self._asked) >= _MAX_ASKED:
            del self._asked[next(iter(self._asked))]
        self._asked[key] = client

    def _report_once(
        self, out: list[bytes], key: tuple[str, ...], record: EveRecord,
        build: Callable[[], bytes],
    ) -> None:
        """Emit ``build()`` unless the same finding was emitted within a day."""
        until = self._reported.get(key)
        if until is not None and record.ts < until:
            return
        if until is None and len(self._reported) >= self.cfg.max_tracked:
            del self._reported[next(iter(self._reported))]
        self._reported[key] = record.ts + _NAME_REPEAT_US
        out.append(build())

    def _sweep(self) -> None:
        """Forget windows and reports that ended before the current window (event time)."""
        oldest = self._watermark - self._window_us
        stale = [k for k, w in self._windows.items()
                 if max(w.start_us, w.reported_us or 0) < oldest]  # fmt: skip
        for window_key in stale:
            del self._windows[window_key]
        for report_key in [k for k, until in self._reported.items() if until < oldest]:
            del self._reported[report_key]
        self._swept = self._watermark

    def _is_ignored(self, name: str) -> bool:
        """Whether name is an ignored domain or under one (walks up the labels)."""
        name = name.lower().rstrip(".")
        while name:
            if name in self._ignored:
                return True
            name = name.partition(".")[2]
        return False

    # -- names in HTTP and TLS -------------------------------------------------------

    def _on_contact(self, record: EveRecord, parsed: _Record, out: list[bytes]) -> None:
        """HTTP Host and TLS server names: contact with a hex-label (DGA) domain."""
        named = parsed.http or parsed.tls
        name = ((named.hostname or named.sni) if named else None) or ""
        parts = split_name(name) if name else None
        if not parts or not parts[0] or not self.cfg.dga_hex_names or self._is_ignored(name):
            return
        if is_hex_label(parts[0].split(".")[0]):
            via = "http" if parsed.http else "tls"
            self._report_once(out, ("dga-name", record.head.src_ip or "", parts[0]), record,
                              lambda: self._hex_finding(record, parts[0], via))  # fmt: skip

    # -- findings -------------------------------------------------------------------

    def _tunnel_finding(
        self, record: EveRecord, kind: str, client: str, domain: str, window: _Window
    ) -> bytes:
        cfg = self.cfg
        zone = domain if domain.startswith("@") else ".".join(window.zone or []) or domain
        evidence = {
            "domain": zone.lstrip("@") if domain.startswith("@") else zone,
            "registered_domain": None if domain.startswith("@") else domain,
            "dns_server_as_domain": domain.startswith("@"), "queries": window.queries,
            "unique_names": len(window.names), "encoded_names": window.encoded,
            "payload_type_queries": window.payload_queries,
            "payload_type_names": window.payload_names, "answer_bytes": window.answer_bytes,
            "query_types": window.types, "sample_names": window.samples,
            "dns_servers": sorted(window.servers),
            "thresholds": {"min_unique_names": cfg.min_unique_names,
                           "min_encoded_share": cfg.min_encoded_share,
                           "min_data_chars": cfg.min_data_chars,
                           "min_payload_queries": cfg.min_payload_queries,
                           "min_payload_names": cfg.min_payload_names,
                           "min_answer_bytes": cfg.min_answer_bytes},
            "window_seconds": cfg.window_seconds, "first_timestamp": window.first_ts,
            "last_timestamp": window.last_ts, "flow_ids": window.flow_ids,
            "community_ids": window.community_ids,
        }  # fmt: skip
        return make_finding(
            type=kind,
            category="exfiltration" if kind == "dns-exfiltration" else "command-and-control",
            severity=1 if kind == "dns-tunnel" else 2,
            confidence=0.9 if window.encoded >= cfg.min_unique_names else 0.75,
            timestamp=window.last_ts,
            src_ip=client,
            dest_ip=None,
            explanation=_explain_tunnel(kind, client, zone, window),
            evidence=evidence,
            app_proto="dns",
        )

    def _nxdomain_finding(
        self, record: EveRecord, client: str, window: _Window, count: int, randoms: int
    ) -> bytes:
        evidence = {
            "nxdomain_domains": count, "random_looking_domains": randoms,
            "sample_domains": window.samples, "dns_servers": sorted(window.servers),
            "threshold_domains": self.cfg.min_nxdomain_domains,
            "threshold_random_share": self.cfg.min_random_share,
            "window_seconds": self.cfg.window_seconds, "first_timestamp": window.first_ts,
            "last_timestamp": window.last_ts, "flow_ids": window.flow_ids,
            "community_ids": window.community_ids,
        }  # fmt: skip
        samples = ", ".join(window.samples[:3])
        return make_finding(
            type="dga", category="command-and-control", severity=1, confidence=0.85,
            timestamp=window.last_ts, src_ip=client, dest_ip=None, evidence=evidence,
            explanation={
                "en": f"{client} got 'no such domain' (NXDOMAIN) for {count} different domains "
                f"within {self.cfg.window_seconds // 60} minutes, {randoms} of them random-looking "
                f"({samples}, ...): malware with a domain generation algorithm (DGA) searching "
                "for its command server. Examine the host for malware.",
                "vi": f"{client} nhận kết quả 'tên miền không tồn tại' (NXDOMAIN) cho {count} tên "
                f"miền khác nhau trong {self.cfg.window_seconds // 60} phút, {randoms} tên trông "
                f"ngẫu nhiên ({samples}, ...): dấu hiệu mã độc dùng thuật toán sinh tên miền (DGA) "
                "để tìm máy chủ điều khiển. Hãy kiểm tra mã độc trên máy này.",
            },
            app_proto="dns",
        )  # fmt: skip

    def _hex_finding(self, record: EveRecord, domain: str, via: str) -> bytes:
        head = record.head
        return make_finding(
            type="dga", category="command-and-control", severity=2, confidence=0.6,
            timestamp=head.timestamp, src_ip=head.src_ip,
            dest_ip=None if via == "dns" else head.dest_ip,
            evidence={"domain": domain, "seen_in": via, "rule": "hex-registered-label",
                      "min_label_chars": 8, "timestamp": head.timestamp,
                      "flow_ids": [head.flow_id] if head.flow_id is not None else [],
                      "community_ids": [head.community_id] if head.community_id else []},
            explanation={
                "en": f"{head.src_ip} contacted {domain} ({via.upper()}), a domain whose name is a "
                "hex string such as a domain generation algorithm (DGA) derives from a hash of "
                "the date: a sign of malware looking for its command server. Check the host and "
                "what it exchanged with this domain.",
                "vi": f"{head.src_ip} đã liên lạc với {domain} ({via.upper()}), tên miền là một "
                "chuỗi thập lục phân giống tên do thuật toán sinh tên miền (DGA) tạo ra từ giá trị "
                "băm của ngày: dấu hiệu mã độc tìm máy chủ điều khiển. Hãy kiểm tra máy này và dữ "
                "liệu nó đã trao đổi với tên miền đó.",
            },
            app_proto=via,
        )  # fmt: skip

def _explain_tunnel(kind: str, client: str, zone: str, window: _Window) -> dict[str, str]:
    unique, encoded, size = len(window.names), window.encoded, window.answer_bytes
    if kind == "dns-exfiltration":
        what_en = "data is being sent out hidden in DNS names (exfiltration)"
        what_vi = "dữ liệu đang bị gửi ra ngoài ẩn trong tên miền DNS (rò rỉ dữ liệu)"
    else:
        what_en = "a DNS tunnel: a program talks to a remote server through DNS"
        what_vi = "đường hầm DNS: một chương trình liên lạc với máy chủ bên ngoài qua DNS"
    if zone.startswith("@"):
        where_en = f"for names without a real domain, sent straight to {zone[1:]}"
        where_vi = f"cho các tên không có tên miền thật, gửi thẳng tới {zone[1:]}"
    else:
        where_en, where_vi = f"for names under {zone}", f"cho các tên thuộc {zone}"
    types = ", ".join(f"{t} {n}" for t, n in sorted(window.types.items(), key=lambda i: -i[1]))
    return {
        "en": f"{client} had sent {window.queries} DNS queries {where_en} ({types}) when this "
        f"was raised: {unique} different names, {encoded} of them carrying encoded data, and "
        f"{size} bytes of TXT/NULL-type answers: {what_en}. Find the program on {client} that "
        "makes these queries and what it sent.",
        "vi": f"Khi phát hiện, {client} đã gửi {window.queries} truy vấn DNS {where_vi} ({types}): "
        f"{unique} tên khác nhau, {encoded} tên chứa dữ liệu đã mã hoá, và {size} byte dữ liệu "
        f"trả lời kiểu TXT/NULL: {what_vi}. Hãy tìm chương trình trên {client} tạo ra các truy "
        "vấn này và dữ liệu nó đã gửi.",
    }
