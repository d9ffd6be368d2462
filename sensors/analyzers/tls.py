"""TLS hygiene: broken server certificates, outdated protocol versions, known-bad fingerprints.

Works on Suricata's ``tls`` records, one per TLS session. Certificate checks need a
certificate in clear text, so they apply to TLS 1.2 and older (TLS 1.3 encrypts it);
versions and fingerprints apply to every session. Each problem is reported once per
(type, server, server name) per window of event time, as soon as it is first seen.

Host names are checked against the certificate's subject alternative names, read from
the DER certificate (``certificate`` in the EVE tls fields); when a record has no
certificate, the subject's CN is all there is and the finding says so.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.config import TlsFingerprint, TlsHygieneConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.certificate import (
    CertificateNames,
    certificate_names,
    common_names_of,
    matches_hostname,
)

logger = logging.getLogger(__name__)

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
#: Suricata's names of the negotiated version -> the names the configuration uses.
_VERSION_NAMES = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLSv1": "TLS 1.0", "TLS 1.1": "TLS 1.1"}
_MAX_LISTED = 20


@dataclass(frozen=True)
class _Session:
    """The parts of one tls record the checks use."""

    record: EveRecord
    tls: dict[str, Any]
    client: str | None
    server: str | None
    server_port: int | None
    sni: str


def _session(record: EveRecord) -> _Session | None:
    data = record.data
    tls = data.get("tls")
    if not isinstance(tls, dict):
        return None
    sni = tls.get("sni")
    return _Session(
        record=record,
        tls=tls,
        client=record.head.src_ip,
        server=record.head.dest_ip,
        server_port=record.head.dest_port,
        sni=sni.lower().rstrip(".") if isinstance(sni, str) else "",
    )


@functools.lru_cache(maxsize=4096)
def _cert_time_us(value: Any) -> int | None:
    """Suricata's ``notbefore``/``notafter`` ("2014-03-04T23:59:59", UTC) in microseconds."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        fields = (value[0:4], value[5:7], value[8:10], value[11:13], value[14:16], value[17:19])
        y, mo, d, h, mi, s = (int(part) for part in fields)
    except ValueError:
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * SECOND_US


def _fingerprint_index(
    entries: Sequence[TlsFingerprint],
) -> dict[tuple[str, str], list[TlsFingerprint]]:
    index: dict[tuple[str, str], list[TlsFingerprint]] = {}
    for entry in entries:
        value = entry.hash
        if entry.kind == "cert-sha1":  # Suricata writes "ee:a2:68:...".
            digits = value.replace(":", "")
            value = ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
        index.setdefault((entry.kind, value), []).append(entry)
    return index


def _observed_fingerprints(tls: dict[str, Any]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for kind in ("ja3", "ja3s"):
        value = tls.get(kind)
        if isinstance(value, dict) and isinstance(value.get("hash"), str):
            seen[kind] = value["hash"].lower()
    if isinstance(tls.get("ja4"), str):
        seen["ja4"] = tls["ja4"].lower()
    if isinstance(tls.get("fingerprint"), str):
        seen["cert-sha1"] = tls["fingerprint"].lower()
    return seen


class TlsHygieneAnalyzer:
    """Findings for expired, not-yet-valid, self-signed and misnamed server certificates,
    SSL/early-TLS versions, and JA3/JA3S/JA4/certificate fingerprints on a configured list."""

    name = "tls"
    event_types = frozenset({"tls"})

    def __init__(self, cfg: TlsHygieneConfig) -> None:
        self.cfg = cfg
        self._window_us = cfg.window_seconds * SECOND_US
        self._skew_us = cfg.clock_skew_seconds * SECOND_US
        self._weak = frozenset(cfg.weak_versions)
        self._fingerprints = _fingerprint_index(cfg.fingerprints)
        self._exempt = [ipaddress.ip_network(cidr) for cidr in cfg.exempt_servers]
        self._exempt_cache: dict[str, bool] = {}
        #: base64 certificate -> its names: a server shows one certificate to every client.
        self._names_cache: dict[str, CertificateNames | None] = {}
        self._match_cache: dict[tuple[str, CertificateNames], bool] = {}
        #: Finding key -> event time (us) it was reported; insertion order is time order.
        self._reported: dict[tuple[str, ...], int] = {}

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for the sessions of this batch that show a problem not yet reported."""
        out: list[bytes] = []
        for record in records:
            session = _session(record)
            if session is None or session.server is None:
                continue
            out.extend(self._check_fingerprints(session))
            if self._is_exempt(session.server):
                continue
            out.extend(self._check_version(session))
            out.extend(self._check_certificate(session))
        return out

    def shutdown(self) -> list[bytes]:
        """Findings are emitted when first seen: nothing is pending."""
        return []

    # -- checks --------------------------------------------------------------------------

    def _check_version(self, s: _Session) -> list[bytes]:
        version = _VERSION_NAMES.get(str(s.tls.get("version")))
        if version is None or version not in self._weak:
            return []
        severity = 2 if version.startswith("SSL") else 3
        evidence = {"version": version, "weak_versions": sorted(self._weak)}
        return self._report(s, "tls-weak-version", severity, 1.0, evidence, _explain_version)

    def _check_certificate(self, s: _Session) -> list[bytes]:
        tls = s.tls
        subject, issuer = tls.get("subject"), tls.get("issuerdn")
        if not isinstance(subject, str):
            return []  # No certificate seen (TLS 1.3, resumption, a lost handshake).
        out: list[bytes] = []
        now = s.record.ts
        not_before = _cert_time_us(tls.get("notbefore"))
        not_after = _cert_time_us(tls.get("notafter"))
        if not_after is not None and not_after + self._skew_us < now:
            days = (now - not_after) // DAY_US
            out += self._report(s, "tls-expired-certificate", 2, 0.95,
                                {"expired_days": days}, _explain_expired)  # fmt: skip
        if not_before is not None and not_before - self._skew_us > now:
            days = (not_before - now) // DAY_US
            out += self._report(s, "tls-not-yet-valid-certificate", 2, 0.9,
                                {"valid_in_days": days}, _explain_not_yet_valid)  # fmt: skip
        names = self._names(tls)
        if _is_self_signed(subject, issuer, names):
            # A self-signed certificate cannot be validated for any name: this finding
            # says everything a name mismatch would.
            out += self._report(s, "tls-self-signed-certificate", 3, 0.9, {}, _explain_self_signed)
        elif s.sni:
            out += self._check_hostname(s, subject, names)
        return out

    def _check_hostname(
        self, s: _Session, subject: str, names: CertificateNames | None
    ) -> list[bytes]:
        from_der = names is not None
        if names is None:
            cns = common_names_of(subject)
            if not cns:
                return []
            names = CertificateNames(cns, (), (), False)
        key = (s.sni, names)
        matched = self._match_cache.get(key)
        if matched is None:
            matched = matches_hostname(s.sni, names)
            if len(self._match_cache) >= 4096:
                self._match_cache.clear()
            self._match_cache[key] = matched
        if matched:
            return []
        evidence = {
            "certificate_names": names.all_names()[:_MAX_LISTED],
            "names_from": "subject-alt-name" if from_der else "subject-cn-only",
        }
        confidence = 0.9 if from_der else 0.6
        return self._report(s, "tls-hostname-mismatch", 2, confidence, evidence, _explain_mismatch)

    def _check_fingerprints(self, s: _Session) -> list[bytes]:
        if not self._fingerprints:
            return []
        seen = _observed_fingerprints(s.tls)
        out: list[bytes] = []
        for kind, value in seen.items():
            for entry in self._fingerprints.get((kind, value), ()):
                if entry.ja3s is not None and seen.get("ja3s") != entry.ja3s:
                    continue
                out += self._report_fingerprint(s, entry, value)
        return out

    # -- reporting -----------------------------------------------------------------------

    def _report(self, s: _Session, kind: str, severity: int, confidence: float,
                extra: dict[str, Any], explain: Any) -> list[bytes]:  # fmt: skip
        """A certificate or version finding: the server is the offender."""
        if not self._first_in_window((kind, s.server or "", s.sni), s.record.ts):
            return []
        tls = s.tls
        evidence = {
            "server": s.server, "server_port": s.server_port, "client": s.client,
            "sni": s.sni or None, "subject": tls.get("subject"), "issuerdn": tls.get("issuerdn"),
            "serial": tls.get("serial"), "fingerprint": tls.get("fingerprint"),
            "notbefore": tls.get("notbefore"), "notafter": tls.get("notafter"),
            "version": tls.get("version"), "session_time": s.record.head.timestamp,
            **_flow_ids(s.record), **extra,
        }  # fmt: skip
        return [make_finding(
            type=kind, category="policy", severity=severity, confidence=confidence,
            timestamp=s.record.head.timestamp, src_ip=s.server, dest_ip=s.client,
            explanation=explain(s, evidence), evidence=evidence,
            src_port=s.server_port, proto="TCP", app_proto="tls",
        )]  # fmt: skip

    def _report_fingerprint(self, s: _Session, entry: TlsFingerprint, value: str) -> list[bytes]:
        """A fingerprint match: the client is the offender (what talked), the server its peer."""
        key = ("tls-fingerprint-match", s.client or "", s.server or "", entry.kind, value)
        if not self._first_in_window(key, s.record.ts):
            return []
        evidence = {
            "kind": entry.kind, "hash": value, "ja3s": entry.ja3s, "name": entry.name,
            "reference": entry.reference or None, "client": s.client, "server": s.server,
            "server_port": s.server_port, "sni": s.sni or None,
            "session_time": s.record.head.timestamp, **_flow_ids(s.record),
        }  # fmt: skip
        confidence = 0.8 if entry.kind == "cert-sha1" or entry.ja3s else 0.5
        return [make_finding(
            type="tls-fingerprint-match", category=entry.category,
            severity=1 if entry.category == "command-and-control" else 2, confidence=confidence,
            timestamp=s.record.head.timestamp, src_ip=s.client, dest_ip=s.server,
            explanation=_explain_fingerprint(s, evidence), evidence=evidence,
            dest_port=s.server_port, proto="TCP", app_proto="tls",
        )]  # fmt: skip

    def _first_in_window(self, key: tuple[str, ...], ts: int) -> bool:
        reported = self._reported.get(key)
        if reported is not None and ts - reported < self._window_us:
            return False
        self._reported.pop(key, None)  # re-insert at the end: the dict stays in time order
        self._reported[key] = ts
        self._evict(ts)
        return True

    def _evict(self, now: int) -> None:
        """Forget reports older than a window, and the oldest beyond ``max_tracked``."""
        reported = self._reported
        while reported:
            key, ts = next(iter(reported.items()))
            if now - ts < self._window_us and len(reported) <= self.cfg.max_tracked:
                break
            del reported[key]

    def _names(self, tls: dict[str, Any]) -> CertificateNames | None:
        """The certificate's names from its DER, or None when it was not logged or is bad."""
        encoded = tls.get("certificate")
        if not isinstance(encoded, str):
            return None
        if encoded in self._names_cache:
            return self._names_cache[encoded]
        try:
            names: CertificateNames | None = certificate_names(
                base64.b64decode(encoded, validate=True)
            )
        except (ValueError, binascii.Error):
            logger.debug("Unreadable certificate in a tls record; using its subject text.")
            names = None
        if len(self._names_cache) >= 1000:
            self._names_cache.clear()
        self._names_cache[encoded] = names
        return names

    def _is_exempt(self, server: str) -> bool:
        if not self._exempt:
            return False
        known = self._exempt_cache.get(server)
        if known is None:
            try:
                address = ipaddress.ip_address(server)
                known = any(address in net for net in self._exempt)
            except ValueError:
                known = False
            if len(self._exempt_cache) > 10_000:
                self._exempt_cache.clear()
            self._exempt_cache[server] = known
        return known


def _is_self_signed(subject: str, issuer: Any, names: CertificateNames | None) -> bool:
    return bool(subject) and (subject == issuer or (names is not None and names.is_self_issued))


def _flow_ids(record: EveRecord) -> dict[str, Any]:
    head = record.head
    return {"flow_ids": [head.flow_id] if head.flow_id is not None else [],
            "community_ids": [head.community_id] if head.community_id else []}  # fmt: skip


def _who(s: _Session) -> str:
    name = f" ({s.sni})" if s.sni else ""
    return f"{s.server}:{s.server_port}{name}"


def _explain_expired(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    return {
        "en": f"Server {_who(s)} presented a certificate that expired on {ev['notafter']} UTC, "
        f"{ev['expired_days']} days before this session. Clients either reject it or their "
        "users learn to click through warnings. Renew the certificate; if the server is "
        "not yours, check whether someone is intercepting the connection.",
        "vi": f"Máy chủ {_who(s)} đưa ra chứng chỉ đã hết hạn từ {ev['notafter']} UTC, "
        f"{ev['expired_days']} ngày trước phiên này. Máy khách sẽ từ chối, hoặc người dùng "
        "quen bỏ qua cảnh báo. Hãy gia hạn chứng chỉ; nếu máy chủ không thuộc quyền quản lý "
        "của bạn, hãy kiểm tra xem kết nối có bị chặn và giả mạo hay không.",
    }


def _explain_not_yet_valid(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    return {
        "en": f"Server {_who(s)} presented a certificate valid only from {ev['notbefore']} UTC, "
        f"{ev['valid_in_days']} days after this session. Either the server's certificate was "
        "made with a wrong clock, or the certificate is forged. Check the server's clock and "
        "who issued the certificate.",
        "vi": f"Máy chủ {_who(s)} đưa ra chứng chỉ chỉ có hiệu lực từ {ev['notbefore']} UTC, "
        f"{ev['valid_in_days']} ngày sau phiên này. Chứng chỉ được tạo với đồng hồ sai, hoặc "
        "là chứng chỉ giả mạo. Hãy kiểm tra đồng hồ của máy chủ và đơn vị cấp chứng chỉ.",
    }


def _explain_self_signed(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    return {
        "en": f"Server {_who(s)} presented a self-signed certificate (subject and issuer are "
        f'both "{ev["subject"]}"). No client can verify it, so an attacker in the middle '
        "could present one just like it. Use a certificate from your CA, or list the server "
        "in exempt_servers if this is accepted (e.g. a management controller).",
        "vi": f"Máy chủ {_who(s)} đưa ra chứng chỉ tự ký (chủ thể và đơn vị cấp đều là "
        f'"{ev["subject"]}"). Không máy khách nào xác minh được, nên kẻ tấn công ở giữa có '
        "thể đưa ra chứng chỉ tương tự. Hãy dùng chứng chỉ do CA của bạn cấp, hoặc thêm máy "
        "chủ vào exempt_servers nếu đây là điều được chấp nhận (ví dụ bộ điều khiển quản trị).",
    }


def _explain_mismatch(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    names = ", ".join(ev["certificate_names"]) or "none"
    cn_only = ev["names_from"] == "subject-cn-only"
    note_en = " (only the subject CN was logged; the certificate may list more names)"
    note_vi = " (chỉ ghi được CN của chủ thể; chứng chỉ có thể còn tên khác)"
    return {
        "en": f"Client {s.client} asked for {s.sni} but server {s.server}:{s.server_port} "
        f"presented a certificate for {names}{note_en if cn_only else ''}. Browsers reject "
        "this; it happens with misconfigured virtual hosts and with interception. Check "
        "which site the server should serve and who issued the certificate.",
        "vi": f"Máy khách {s.client} yêu cầu {s.sni} nhưng máy chủ {s.server}:{s.server_port} "
        f"đưa ra chứng chỉ cho {names}{note_vi if cn_only else ''}. Trình duyệt sẽ từ chối; "
        "điều này xảy ra khi cấu hình virtual host sai hoặc khi kết nối bị chặn và giả mạo. "
        "Hãy kiểm tra máy chủ phải phục vụ trang nào và ai đã cấp chứng chỉ.",
    }


def _explain_version(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    version = ev["version"]
    return {
        "en": f"Server {_who(s)} negotiated {version} with client {s.client}. {version} is "
        "deprecated and has known attacks (POODLE, BEAST); current clients refuse it. "
        "Enable TLS 1.2 or 1.3 on the server and disable the old versions; find out which "
        "client still needs them.",
        "vi": f"Máy chủ {_who(s)} đã thỏa thuận {version} với máy khách {s.client}. {version} "
        "đã bị loại bỏ và có các tấn công đã biết (POODLE, BEAST); các máy khách hiện nay từ "
        "chối nó. Hãy bật TLS 1.2 hoặc 1.3 trên máy chủ, tắt các phiên bản cũ, và tìm xem "
        "máy khách nào còn cần chúng.",
    }


def _explain_fingerprint(s: _Session, ev: dict[str, Any]) -> dict[str, str]:
    kind, name = ev["kind"].upper(), ev["name"]
    pair = f" answered with JA3S {ev['ja3s']}" if ev["ja3s"] else ""
    return {
        "en": f"The TLS session from {s.client} to {_who(s)} has {kind} {ev['hash']}{pair}, "
        f'listed as "{name}". Fingerprints can collide with ordinary software: check which '
        f"program on {s.client} made the connection and what {s.server} is.",
        "vi": f"Phiên TLS từ {s.client} đến {_who(s)} có {kind} {ev['hash']}"
        f"{' với JA3S ' + ev['ja3s'] if ev['ja3s'] else ''}, nằm trong danh sách là "
        f'"{name}". Dấu vân tay có thể trùng với phần mềm bình thường: hãy kiểm tra chương '
        f"trình nào trên {s.client} đã tạo kết nối và {s.server} là máy chủ gì.",
    }
