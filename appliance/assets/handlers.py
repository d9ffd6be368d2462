"""One handler per EVE event type: what each record says about which host.

Handlers take the record, its time, its addresses and the sensor, and call the building
blocks of :class:`appliance.assets.extract.Observations`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from appliance.assets import osguess
from appliance.assets.extract import (
    _TLS_RANK,
    ALERT_CONFIDENCE,
    ENGINE_SIDS,
    Observations,
    clean_name,
    clean_text,
    ip_of,
)
from appliance.assets.oui import normalize_mac
from appliance.events import parse_timestamp


def observe(obs: Observations, record: dict[str, Any], sensor: str) -> None:
    """Fold one EVE record into ``obs``."""
    etype = record.get("event_type")
    handler = HANDLERS.get(etype) if isinstance(etype, str) else None
    if handler is None:
        return
    try:
        ts = parse_timestamp(str(record.get("timestamp", "")))
    except ValueError:
        return
    obs.max_ts = max(obs.max_ts, ts)
    src, dest = ip_of(record.get("src_ip")), ip_of(record.get("dest_ip"))
    handler(obs, record, ts, src, dest, sensor)
    if "ether" in record:
        _ether(obs, record, ts, src)
    if (src is not None and etype not in ("flow", "alert", "finding", "anomaly")
            and str(record.get("proto") or "").upper() != "UDP"):  # fmt: skip
        obs.seen(src, ts, sensor)  # it held a TCP conversation (a UDP source may be forged)


def _flow(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    flow = r.get("flow") or {}
    answered = int(flow.get("pkts_toclient") or 0) > 0
    real_source = src is not None and _is_real_source(r, flow, answered)
    if not real_source and (dest is None or not answered):
        return  # e.g. a spoofed flood's flows: nothing to learn (and no times to parse)
    try:
        first = parse_timestamp(flow["start"]) if "start" in flow else ts
        last = parse_timestamp(flow["end"]) if "end" in flow else ts
    except (TypeError, ValueError):
        first = last = ts
    if real_source and src is not None:
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


def _is_real_source(r: dict[str, Any], flow: dict[str, Any], answered: bool) -> bool:
    """Whether a flow's source exists: it got an answer, or (a SPAN port that sees one
    direction only) it kept talking. A spoofed flood (one packet per made-up source, no
    answer) must not fill the inventory with addresses that do not exist."""
    if answered:
        return True
    if int(flow.get("pkts_toserver") or 0) < 2:
        return False
    if str(r.get("proto") or "").upper() != "TCP":
        return True
    try:  # an ACK: it completed a handshake whose other half this sensor did not see
        return bool(int(str((r.get("tcp") or {}).get("tcp_flags_ts")), 16) & 0x10)
    except ValueError:
        return False


def _dhcp(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
          sensor: str) -> None:
    d = r.get("dhcp") or {}
    ip = None
    for key in ("assigned_ip", "client_ip", "requested_ip"):
        value = ip_of(d.get(key))
        if value is not None and value not in ("0.0.0.0", "::"):
            ip = value
            break
    if ip is None and d.get("type") == "request" and src not in (None, "0.0.0.0"):
        ip = src
    mac = normalize_mac(str(d.get("client_mac") or ""))
    if ip is None:
        if mac is not None and d.get("type") == "request":
            # A DISCOVER from 0.0.0.0: its name and clues wait for the address the
            # server gives this MAC (later in the batch, or known from before).
            obs.dhcp_pending.setdefault(mac, []).append((d, ts, sensor))
        return
    if mac is not None:
        obs.dhcp_ips[mac] = ip
    dhcp_facts(obs, d, ip, ts, sensor)


def dhcp_facts(obs: Observations, d: dict[str, Any], ip: str, ts: int, sensor: str) -> None:
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
            obs.name(ip_of(rdata), ans.get("rrname"), "dns", ts)
        elif rrtype == "PTR":
            obs.name(_ptr_address(str(ans.get("rrname", ""))), rdata, "dns-ptr", ts)
    grouped = d.get("grouped") or {}
    rrname = d.get("rrname")
    if not d.get("answers") and isinstance(grouped, dict):
        for rrtype in ("A", "AAAA"):
            for addr in grouped.get(rrtype) or []:
                obs.name(ip_of(addr), rrname, "dns", ts)
    if dest is not None:  # Suricata logs answers in the flow's direction: dest answered
        obs.service(dest, r.get("dest_port"), str(r.get("proto") or "UDP").upper(), ts,
                    app_proto="dns")


def _ptr_address(rrname: str) -> str | None:
    parts = rrname.lower().rstrip(".").split(".")
    if parts[-2:] == ["in-addr", "arpa"] and len(parts) == 6:
        return ip_of(".".join(reversed(parts[:4])))
    if parts[-2:] == ["ip6", "arpa"] and len(parts) == 34:
        nibbles = "".join(reversed(parts[:32]))
        return ip_of(":".join(nibbles[i : i + 4] for i in range(0, 32, 4)))
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


def _rdp(obs: Observations, r: dict[str, Any], ts: int, src: str | None, dest: str | None,
         sensor: str) -> None:
    info = (r.get("rdp") or {}).get("client") or {}
    # Suricata 7 logs some RDP requests with the addresses reversed: the server is the end
    # on the RDP port.
    reverse = r.get("src_port") == 3389 and r.get("dest_port") != 3389
    client, server = (dest, src) if reverse else (src, dest)
    port = r.get("src_port") if reverse else r.get("dest_port")
    if info.get("client_name"):
        obs.name(client, info["client_name"], "rdp", ts)
    if info.get("build"):
        obs.hint(client, osguess.from_rdp_build(clean_text(info["build"], 60)), ts)
    if server is not None:
        obs.service(server, port, "TCP", ts, app_proto="rdp")


HANDLERS: dict[str, Callable[..., None]] = {
    "flow": _flow, "dhcp": _dhcp, "dns": _dns, "tls": _tls, "http": _http, "ssh": _ssh,
    "smb": _smb, "krb5": _krb5, "smtp": _smtp, "ftp": _ftp, "alert": _alert,
    "finding": _finding, "rdp": _rdp,
}  # fmt: skip
