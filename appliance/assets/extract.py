"""What EVE records say about hosts: addresses, names, services, OS clues, evidence.

Pure code, no I/O: :class:`Observations` takes records one by one and keeps, per host,
the first and last time each fact was seen. The inventory writes a batch of them to the
state database in one transaction. Packet data is attacker-controlled: names and banners
are cut to a bounded length and stripped of control characters here; the UI escapes them.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from appliance.assets import osguess
from appliance.assets.oui import normalize_mac
from appliance.events import parse_timestamp

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NAME_RE = re.compile(r"^[A-Za-z0-9_*.-]{1,253}$")
_TLS_RANK = {"SSLv2": 0, "SSLv3": 1, "TLSv1": 2, "TLS 1.0": 2, "TLS 1.1": 3, "TLS 1.2": 4,
             "TLS 1.3": 5}  # fmt: skip
#: Suricata's own stream, decoder and app-layer events: engine noise on mirrored
#: traffic (checksum offload, asymmetric routing), no evidence against a host.
ENGINE_SIDS = range(2200000, 2300000)
#: Confidence given to a signature alert (findings carry their own).
ALERT_CONFIDENCE = 0.7

Span = list[int]  # [first_seen, last_seen] in UTC microseconds


def clean_text(value: Any, limit: int = 200) -> str:
    """A printable, bounded string from packet data."""
    return _CONTROL_RE.sub("", str(value))[:limit].strip()


def clean_name(value: Any) -> str | None:
    """A host name as it can appear in DNS, lower-case, or None when it is not one."""
    text = clean_text(value, 300).rstrip(".").lower()
    if not _NAME_RE.match(text) or any(len(label) > 63 for label in text.split(".")):
        return None
    try:
        ipaddress.ip_address(text)
        return None  # an address literal is not a name
    except ValueError:
        return text


def _touch(table: dict[Any, Span], key: Any, ts: int, last: int | None = None) -> None:
    span = table.get(key)
    end = last if last is not None else ts
    if span is None:
        table[key] = [ts, end]
    else:
        span[0] = min(span[0], ts)
        span[1] = max(span[1], end)


@dataclass(slots=True)
class ServiceSeen:
    """A service (port, proto) of a home host as seen in a batch."""

    app_proto: str | None = None
    banner: str | None = None
    tls_version: str | None = None
    flows: int = 0
    external_flows: int = 0
    first: int = 0
    last: int = 0


@dataclass(slots=True)
class EvidenceSeen:
    """Alerts or findings of one kind against or from one host, deduplicated."""

    label: str
    category: str | None
    severity: int
    confidence: float
    count: int
    first: int
    last: int


@dataclass
class Observations:
    """Facts about hosts from a batch of EVE records."""

    is_home: Callable[[str], bool]
    os_fingerprints: dict[tuple[str, str], str] = field(default_factory=dict)
    hosts: dict[str, Span] = field(default_factory=dict)
    sensors: dict[tuple[str, str], Span] = field(default_factory=dict)
    macs: dict[tuple[str, str, str], Span] = field(default_factory=dict)
    names: dict[tuple[str, str, str], Span] = field(default_factory=dict)
    services: dict[tuple[str, int, str], ServiceSeen] = field(default_factory=dict)
    os_hints: dict[tuple[str, str, str], tuple[str, float, int]] = field(default_factory=dict)
    evidence: dict[tuple[str, str, str, str], EvidenceSeen] = field(default_factory=dict)
    max_ts: int = 0

    def add(self, record: dict[str, Any], sensor: str) -> None:
        """Take what one EVE record says."""
        etype = record.get("event_type")
        handler = _HANDLERS.get(etype) if isinstance(etype, str) else None
        if handler is None:
            return
        try:
            ts = parse_timestamp(str(record.get("timestamp", "")))
        except ValueError:
            return
        self.max_ts = max(self.max_ts, ts)
        src, dest = _ip(record.get("src_ip")), _ip(record.get("dest_ip"))
        handler(self, record, ts, src, dest, sensor)
        if "ether" in record:
            _ether(self, record, ts, src)
        if src is not None and etype not in ("flow", "alert", "finding", "anomaly"):
            self.seen(src, ts, sensor)  # it sent an application-layer message

    # -- building blocks -------------------------------------------------------------

    def seen(self, ip: str, ts: int, sensor: str, last: int | None = None) -> None:
        if self.is_home(ip):
            _touch(self.hosts, ip, ts, last)
            _touch(self.sensors, (ip, sensor), ts, last)

    def name(self, ip: str | None, value: Any, source: str, ts: int) -> None:
        name = clean_name(value) if ip is not None else None
        if name is not None and ip is not None:
            _touch(self.names, (ip, name, source), ts)

    def mac(self, ip: str | None, value: Any, source: str, ts: int) -> None:
        mac = normalize_mac(str(value)) if ip is not None and value else None
        if mac is not None and ip is not None and self.is_home(ip):
            _touch(self.macs, (ip, mac, source), ts)

    def hint(self, ip: str | None, hint: osguess.OsHint | None, ts: int) -> None:
        if ip is not None and hint is not None and self.is_home(ip):
            self.os_hints[(ip, hint.source, hint.value)] = (hint.os, hint.weight, ts)

    def service(self, ip: str, port: Any, proto: str, ts: int, **facts: Any) -> ServiceSeen | None:
        if not self.is_home(ip) or not isinstance(port, int) or not 0 < port < 65536:
            return None
        svc = self.services.get((ip, port, proto))
        if svc is None:
            svc = self.services[(ip, port, proto)] = ServiceSeen(first=ts, last=ts)
        svc.first, svc.last = min(svc.first, ts), max(svc.last, ts)
        for key, value in facts.items():
            if value:
                setattr(svc, key, value)
        return svc

    def proof(self, ip: str | None, role: str, kind: str, key: str, label: str,
              category: str | None, severity: int, confidence: float, ts: int) -> None:
        if ip is None or not self.is_home(ip):
            return
        k = (ip, role, kind, key)
        ev = self.evidence.get(k)
        if ev is None:
            self.evidence[k] = EvidenceSeen(label, category, severity, confidence, 1, ts, ts)
            return
        ev.count += 1
        ev.severity = min(ev.severity, severity)
        ev.confidence = max(ev.confidence, confidence)
        ev.first, ev.last = min(ev.first, ts), max(ev.last, ts)


@lru_cache(maxsize=4096)
def _parse_ip6(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _ip(value: Any) -> str | None:
    """The address in canonical form; IPv4 as Suricata writes it (checked in C, cheap on
    spoofed floods where every source is new), IPv6 normalised."""
    if not isinstance(value, str) or not value:
        return None
    if ":" in value:
        return _parse_ip6(value)
    try:
        socket.inet_pton(socket.AF_INET, value)
    except OSError:
        return None
    return value


def home_matcher(cidrs: Iterable[str]) -> Callable[[str], bool]:
    """A fast test of whether an address (as :func:`_ip` returns it) is inside HOME_NET."""
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = [(int(n.network_address), int(n.netmask)) for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]

    def is_home(ip: str) -> bool:
        if ":" in ip:
            addr = ipaddress.ip_address(ip)
            return any(addr in n for n in v6)
        value = int.from_bytes(socket.inet_aton(ip), "big")
        return any(value & mask == net for net, mask in v4)

    return is_home


# -- one handler per event type ---------------------------------------------------------

def _flow(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    flow = r.get("flow") or {}
    try:
        first = parse_timestamp(flow["start"]) if "start" in flow else ts
        last = parse_timestamp(flow["end"]) if "end" in flow else ts
    except (TypeError, ValueError):
        first = last = ts
    answered = int(flow.get("pkts_toclient") or 0) > 0
    if src is not None and int(flow.get("pkts_toserver") or 0) > 0:
        obs.seen(src, first, sensor, last)
    if dest is None or not answered:
        return
    obs.seen(dest, first, sensor, last)
    proto = str(r.get("proto") or "").upper()
    app = r.get("app_proto") if r.get("app_proto") not in (None, "failed", "unknown") else None
    port = r.get("dest_port")
    if proto == "TCP":
        tc = (r.get("tcp") or {}).get("tcp_flags_tc")
        try:
            synack = (int(str(tc), 16) & 0x12) == 0x12
        except ValueError:
            synack = False
        if not (synack or app):
            return
        sport = r.get("src_port")
        if not synack and isinstance(sport, int) and isinstance(port, int) and sport < 1024 <= port:
            return  # picked up midstream, server first: not a service on the client's port
    elif proto == "UDP":
        if not (app or (isinstance(port, int) and port <= 1023)):
            return
    else:
        return
    svc = obs.service(dest, port, proto, first, app_proto=app)
    if svc is not None:
        svc.last = max(svc.last, last)
        svc.flows += 1
        if src is not None and not obs.is_home(src):
            svc.external_flows += 1


def _dhcp(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    d = r.get("dhcp") or {}
    ip = None
    for key in ("assigned_ip", "client_ip"):
        value = _ip(d.get(key))
        if value is not None and value not in ("0.0.0.0", "::"):
            ip = value
            break
    if ip is None and d.get("type") == "request" and src not in (None, "0.0.0.0"):
        ip = src
    if ip is None:
        return
    obs.seen(ip, ts, sensor)
    obs.mac(ip, d.get("client_mac"), "dhcp", ts)
    if d.get("hostname"):
        obs.name(ip, d["hostname"], "dhcp", ts)
    if d.get("vendor_class_identifier"):
        obs.hint(ip, osguess.from_dhcp_vendor(clean_text(d["vendor_class_identifier"])), ts)
    if isinstance(d.get("params"), list) and d.get("type") == "request":
        obs.hint(ip, osguess.from_dhcp_params(d["params"]), ts)


def _dns(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    d = r.get("dns") or {}
    if d.get("type") != "answer":
        return
    for ans in d.get("answers") or []:
        if not isinstance(ans, dict):
            continue
        rrtype, rdata = ans.get("rrtype"), ans.get("rdata")
        if rrtype in ("A", "AAAA"):
            obs.name(_ip(rdata), ans.get("rrname"), "dns", ts)
        elif rrtype == "PTR":
            obs.name(_ptr_address(str(ans.get("rrname", ""))), rdata, "dns-ptr", ts)
    grouped = d.get("grouped") or {}
    rrname = d.get("rrname")
    if not d.get("answers") and isinstance(grouped, dict):
        for rrtype in ("A", "AAAA"):
            for addr in grouped.get(rrtype) or []:
                obs.name(_ip(addr), rrname, "dns", ts)
    if dest is not None:  # Suricata logs answers in the flow's direction: dest answered
        obs.service(dest, r.get("dest_port"), str(r.get("proto") or "UDP").upper(), ts,
                    app_proto="dns")


def _ptr_address(rrname: str) -> str | None:
    parts = rrname.lower().rstrip(".").split(".")
    if parts[-2:] == ["in-addr", "arpa"] and len(parts) == 6:
        return _ip(".".join(reversed(parts[:4])))
    if parts[-2:] == ["ip6", "arpa"] and len(parts) == 34:
        nibbles = "".join(reversed(parts[:32]))
        return _ip(":".join(nibbles[i : i + 4] for i in range(0, 32, 4)))
    return None


def _tls(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    t = r.get("tls") or {}
    if dest is None:
        return
    obs.seen(dest, ts, sensor)
    obs.name(dest, t.get("sni"), "tls-sni", ts)
    cn = re.search(r"CN=([^,]+)", str(t.get("subject") or ""))
    if cn:
        obs.name(dest, cn.group(1), "tls-cert", ts)
    for san in _cert_dns_names(t.get("certificate")):
        obs.name(dest, san, "tls-cert", ts)
    version = t.get("version")
    svc = obs.service(dest, r.get("dest_port"), "TCP", ts, app_proto="tls")
    if svc is not None and version in _TLS_RANK:
        if svc.tls_version is None or _TLS_RANK[version] < _TLS_RANK.get(svc.tls_version, 9):
            svc.tls_version = version
    for kind in ("ja3", "ja4"):
        value = t.get(kind)
        fp = value.get("hash") if isinstance(value, dict) else value
        if isinstance(fp, str) and obs.os_fingerprints:
            obs.hint(src, osguess.from_tls_fingerprint(kind, fp, obs.os_fingerprints), ts)


def _cert_dns_names(b64: Any, limit: int = 20) -> list[str]:
    """The DNS names of a certificate's subject alternative names (Suricata logs none)."""
    if not isinstance(b64, str) or not b64:
        return []
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(b64))
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [str(n) for n in ext.value.get_values_for_type(x509.DNSName)][:limit]
    except (ValueError, x509.ExtensionNotFound):
        return []


def _http(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    h = r.get("http") or {}
    if dest is None:
        return
    obs.name(dest, h.get("hostname"), "http-host", ts)
    server = h.get("server")
    for header in h.get("response_headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "server":
            server = header.get("value")
    proto = str(r.get("proto") or "TCP").upper()
    banner = clean_text(server, 120) if server else None
    obs.service(dest, r.get("dest_port"), proto, ts, app_proto="http", banner=banner)
    if banner:
        obs.hint(dest, osguess.from_http_server(banner), ts)
    if h.get("http_user_agent"):
        obs.hint(src, osguess.from_user_agent(clean_text(h["http_user_agent"], 300)), ts)


def _ssh(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    s = r.get("ssh") or {}
    server = clean_text((s.get("server") or {}).get("software_version") or "", 120)
    client = clean_text((s.get("client") or {}).get("software_version") or "", 120)
    if dest is not None:
        obs.seen(dest, ts, sensor)
        banner = f"SSH-{(s.get('server') or {}).get('proto_version', '2.0')}-{server}"
        obs.service(dest, r.get("dest_port"), "TCP", ts, app_proto="ssh",
                    banner=clean_text(banner, 120) if server else None)
        obs.hint(dest, osguess.from_ssh(server), ts)
    obs.hint(src, osguess.from_ssh(client), ts)


def _smb(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    s = r.get("smb") or {}
    ntlm = s.get("ntlmssp") or {}
    if ntlm.get("host"):
        obs.name(src, ntlm["host"], "netbios", ts)
    for part, ip in (("request", src), ("response", dest)):
        native = (s.get(part) or {}).get("native_os")
        if native:
            obs.hint(ip, osguess.from_smb_native_os(clean_text(native, 120)), ts)
    if dest is not None:
        obs.seen(dest, ts, sensor)
        obs.service(dest, r.get("dest_port"), "TCP", ts, app_proto="smb")


def _krb5(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    k = r.get("krb5") or {}
    cname = str(k.get("cname") or "")
    if cname.endswith("$") and str(k.get("msg_type", "")).endswith("_REQ"):
        # A machine account (WS01$) asking for tickets: the client's own name.
        realm = clean_name(k.get("realm")) or ""
        host = cname[:-1]
        obs.name(src, f"{host}.{realm}" if realm else host, "kerberos", ts)
    # The KDC is the end on port 88 (Suricata may log a midstream flow reversed).
    kdc = dest if r.get("dest_port") == 88 else src if r.get("src_port") == 88 else None
    if kdc is not None:
        obs.service(kdc, 88, str(r.get("proto") or "UDP").upper(), ts, app_proto="krb5")


def _smtp(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    helo = (r.get("smtp") or {}).get("helo")
    if helo:
        obs.name(src, helo, "smtp-helo", ts)


def _ftp(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    f = r.get("ftp") or {}
    codes = f.get("completion_code") or []
    replies = f.get("reply") or []
    if dest is not None and codes and codes[0] == "220" and replies:
        obs.service(dest, r.get("dest_port"), "TCP", ts, app_proto="ftp",
                    banner=clean_text(f"220 {replies[0]}", 120))


def _alert(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
           sensor: str) -> None:
    a = r.get("alert") or {}
    sid = a.get("signature_id")
    if not isinstance(sid, int) or sid in ENGINE_SIDS:
        return
    sev = a["severity"] if isinstance(a.get("severity"), int) else 3
    label = clean_text(a.get("signature") or f"sid {sid}", 200)
    for ip, role in ((src, "source"), (dest, "target")):
        obs.proof(ip, role, "alert", str(sid), label, a.get("category"), sev,
                  ALERT_CONFIDENCE, ts)


def _finding(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
             sensor: str) -> None:
    f = r.get("finding") or {}
    ftype, category = str(f.get("type") or ""), f.get("category")
    if not ftype or category == "sensor-health":
        return
    sev = f["severity"] if isinstance(f.get("severity"), int) else 3
    try:
        conf = min(1.0, max(0.0, float(f.get("confidence", 0.5))))
    except (TypeError, ValueError):
        conf = 0.5
    label = clean_text(ftype, 80)
    for ip, role in ((src, "source"), (dest, "target")):
        if ip is not None and not (role == "target" and ip == src):
            obs.proof(ip, role, "finding", ftype, label, category, sev, conf, ts)


def _ether(obs: Observations, r: dict[str, Any], ts: int, src: str | None) -> None:
    ether = r.get("ether") or {}
    if src is not None and ether.get("src_mac"):
        obs.mac(src, ether["src_mac"], "ethernet", ts)


_HANDLERS: dict[str, Callable[..., None]] = {
    "flow": _flow, "dhcp": _dhcp, "dns": _dns, "tls": _tls, "http": _http, "ssh": _ssh,
    "smb": _smb, "krb5": _krb5, "smtp": _smtp, "ftp": _ftp, "alert": _alert,
    "finding": _finding,
}  # fmt: skip
