"""The risk formula, pure: evidence, incidents, exposure and criticality in, factors out.

Per host (points out of 100):

- each alert or finding group (one per kind and key and role): ``severity points x
  confidence x decay``, times ``victim_weight`` when the host was the target; decay halves
  the weight every ``half_life_days`` and drops evidence older than ``max_age_days``;
- each open incident naming the host: points by severity x decay (x victim_weight), or
  the points of the alert and finding groups it holds if more (they count only there);
- exposure: services reached from outside HOME_NET, cleartext protocols offered, SSL/TLS
  older than 1.2 (points per service, each kind capped);
- criticality: the sum so far times (factor - 1) (a low-criticality host gets less);
- over 100, a ``cap`` factor takes the excess away, so the factors still add up.

Points are computed as reals and rounded by the largest-remainder method, which keeps
the rounded factors summing exactly to the rounded total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.config_assets import RiskConfig
from appliance.risk import RiskFactor, RiskScore

DAY_US = 86_400_000_000
#: Evidence groups shown one by one; the rest are summed into one factor.
MAX_EVIDENCE_FACTORS = 8
CLEARTEXT_APPS = {"ftp": "FTP", "telnet": "Telnet", "pop3": "POP3", "imap": "IMAP",
                  "tftp": "TFTP", "snmp": "SNMP", "ldap": "LDAP"}  # fmt: skip
CLEARTEXT_PORTS = {21: "FTP", 23: "Telnet", 110: "POP3", 143: "IMAP", 69: "TFTP", 161: "SNMP",
                   389: "LDAP", 512: "rexec", 513: "rlogin", 514: "rsh"}  # fmt: skip
WEAK_TLS = {"SSLv2", "SSLv3", "TLSv1", "TLS 1.0", "TLS 1.1"}
#: Exposure factors are capped at this many services' worth of points.
EXPOSURE_CAP_SERVICES = 4
_SEV_VI = {1: "cao", 2: "trung bình", 3: "thấp"}
_INC_VI = {"critical": "nghiêm trọng", "high": "cao", "medium": "trung bình", "low": "thấp"}
_CRIT_VI = {"low": "thấp", "normal": "bình thường", "high": "cao", "critical": "then chốt"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Alerts or findings of one kind, about one host in one role."""

    role: str  # "source" (the host did it) or "target"
    kind: str  # "alert" or "finding"
    key: str  # signature id or finding type
    label: str
    category: str | None
    severity: int
    confidence: float
    count: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """An open incident naming the host."""

    id: int
    title_en: str
    title_vi: str
    severity: str
    role: str  # "attacker" or "victim"
    last_seen: int
    #: (role, kind, key) of this host's evidence the incident holds: counted through it.
    covers: frozenset[tuple[str, str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """A service the host offers."""

    port: int
    proto: str
    app_proto: str | None
    tls_version: str | None
    external_flows: int


@dataclass
class _Raw:
    name: str
    points: float
    en: str
    vi: str


def decay(last_seen: int, now_us: int, cfg: RiskConfig) -> float:
    """Weight of evidence last seen at ``last_seen``: 1 when fresh, halving per half-life,
    0 beyond the maximum age."""
    age_days = max(0, now_us - last_seen) / DAY_US
    if age_days > cfg.max_age_days:
        return 0.0
    return float(0.5 ** (age_days / cfg.half_life_days))


def round_exact(values: Sequence[float]) -> list[int]:
    """Integers near ``values`` whose sum is the rounded sum (largest remainder)."""
    floors = [math.floor(v) for v in values]
    target = round(sum(values))
    order = sorted(range(len(values)), key=lambda i: values[i] - floors[i], reverse=True)
    for i in order[: max(0, target - sum(floors))]:
        floors[i] += 1
    return floors


def _evidence_points(ev: Evidence, now_us: int, cfg: RiskConfig) -> tuple[float, float]:
    """(points, decay weight) of one evidence group."""
    weight = decay(ev.last_seen, now_us, cfg)
    sev = min(3, max(1, ev.severity))
    role_w = 1.0 if ev.role == "source" else cfg.victim_weight
    return cfg.severity_points[sev - 1] * ev.confidence * weight * role_w, weight


def _evidence_factors(evidence: Sequence[Evidence], now_us: int, cfg: RiskConfig) -> list[_Raw]:
    raws: list[_Raw] = []
    for ev in evidence:
        points, weight = _evidence_points(ev, now_us, cfg)
        if weight <= 0:
            continue
        sev = min(3, max(1, ev.severity))
        age = max(0, now_us - ev.last_seen) / DAY_US
        what_en = "Finding" if ev.kind == "finding" else "Alert"
        what_vi = "Phát hiện" if ev.kind == "finding" else "Cảnh báo"
        dir_en = "from this host" if ev.role == "source" else "against this host"
        dir_vi = "từ máy này" if ev.role == "source" else "nhắm vào máy này"
        en = (f"{what_en} {ev.label!r} {dir_en}: severity {sev}, confidence {ev.confidence:.2f}, "
              f"{ev.count} time(s), last {age:.1f} days ago (decay x{weight:.2f})")
        vi = (f"{what_vi} {ev.label!r} {dir_vi}: mức {_SEV_VI[sev]}, độ tin cậy "
              f"{ev.confidence:.2f}, {ev.count} lần, lần cuối cách đây {age:.1f} ngày "
              f"(suy giảm x{weight:.2f})")
        raws.append(_Raw(f"{ev.kind}:{ev.key}:{ev.role}", points, en, vi))
    raws.sort(key=lambda r: -r.points)
    if len(raws) > MAX_EVIDENCE_FACTORS:
        rest = raws[MAX_EVIDENCE_FACTORS:]
        raws = raws[:MAX_EVIDENCE_FACTORS]
        raws.append(_Raw("other-evidence", sum(r.points for r in rest),
                         f"{len(rest)} more alert or finding groups",
                         f"{len(rest)} nhóm cảnh báo hoặc phát hiện khác"))  # fmt: skip
    return raws


def _incident_factors(incidents: Sequence[IncidentRef], evidence: list[Evidence], now_us: int,
                      cfg: RiskConfig) -> list[_Raw]:  # fmt: skip
    """One factor per open incident; the evidence it holds is removed from ``evidence``
    and counted through it (the larger of the incident's and the evidence's points)."""
    raws = []
    for inc in incidents:
        covered = [ev for ev in evidence if (ev.role, ev.kind, ev.key) in inc.covers]
        for ev in covered:
            evidence.remove(ev)
        held = sum(_evidence_points(ev, now_us, cfg)[0] for ev in covered)
        weight = decay(inc.last_seen, now_us, cfg)
        role_w = 1.0 if inc.role == "attacker" else cfg.victim_weight
        own = cfg.incident_points.get(inc.severity, 0.0) * weight * role_w
        if max(own, held) <= 0:
            continue
        role_en = "as attacker" if inc.role == "attacker" else "as victim"
        role_vi = "là bên tấn công" if inc.role == "attacker" else "là nạn nhân"
        sev_vi = _INC_VI.get(inc.severity, inc.severity)
        raws.append(_Raw(
            f"incident:{inc.id}", max(own, held),
            f"Open incident #{inc.id} ({inc.severity}) {role_en}: {inc.title_en} "
            f"(severity {own:.1f} points after decay x{weight:.2f}; its {len(covered)} alert "
            f"or finding group(s) {held:.1f}; the larger counts)",
            f"Sự cố đang mở #{inc.id} ({sev_vi}) {role_vi}: {inc.title_vi} (mức độ {own:.1f} "
            f"điểm sau suy giảm x{weight:.2f}; {len(covered)} nhóm cảnh báo/phát hiện của nó "
            f"{held:.1f}; tính số lớn hơn)"))
    return raws


def _svc(s: ServiceRef, extra: str | None = None) -> str:
    name = f"{s.port}/{s.proto.lower()}"
    label = extra or s.app_proto
    return f"{name} {label}" if label else name


def _exposure_factors(services: Sequence[ServiceRef], cfg: RiskConfig) -> list[_Raw]:
    external = [s for s in services if s.external_flows > 0]
    cleartext = [(s, CLEARTEXT_APPS.get(s.app_proto or "") or CLEARTEXT_PORTS.get(s.port))
                 for s in services]  # fmt: skip
    cleartext = [(s, name) for s, name in cleartext if name]
    weak = [s for s in services if s.tls_version in WEAK_TLS]
    raws = []
    specs = (
        ("exposure:external", [_svc(s) for s in external], cfg.external_service_points,
         "Services reached from outside HOME_NET", "Dịch vụ được truy cập từ ngoài HOME_NET"),
        ("exposure:cleartext", [_svc(s, n) for s, n in cleartext], cfg.cleartext_service_points,
         "Cleartext protocols offered", "Dịch vụ dùng giao thức không mã hóa"),
        ("exposure:weak-tls", [_svc(s, s.tls_version) for s in weak], cfg.weak_tls_points,
         "SSL/TLS older than 1.2 negotiated", "Máy chủ dùng SSL/TLS cũ hơn 1.2"),
    )  # fmt: skip
    for name, items, each, en, vi in specs:
        if not items or each <= 0:
            continue
        cap = each * EXPOSURE_CAP_SERVICES
        points = min(cap, each * len(items))
        shown = ", ".join(items[:6]) + (f" (+{len(items) - 6})" if len(items) > 6 else "")
        raws.append(_Raw(
            name, points,
            f"{en}: {shown} ({each:g} points each, at most {cap:g})",
            f"{vi}: {shown} ({each:g} điểm mỗi dịch vụ, tối đa {cap:g})"))
    return raws


def host_score(*, evidence: Sequence[Evidence], incidents: Sequence[IncidentRef],
               services: Sequence[ServiceRef], criticality: str, now_us: int,
               cfg: RiskConfig) -> RiskScore:  # fmt: skip
    """The score of one host and its factors (they sum to the score exactly)."""
    loose = list(evidence)
    raws = (_incident_factors(incidents, loose, now_us, cfg)
            + _evidence_factors(loose, now_us, cfg) + _exposure_factors(services, cfg))
    subtotal = sum(r.points for r in raws)
    mult = cfg.criticality_factor.get(criticality, 1.0)
    if subtotal > 0 and mult != 1.0:
        raws.append(_Raw(
            "criticality", subtotal * (mult - 1),
            f"Criticality {criticality}: x{mult:g} of {subtotal:.1f} points",
            f"Mức quan trọng {_CRIT_VI.get(criticality, criticality)}: x{mult:g} của "
            f"{subtotal:.1f} điểm"))
    return finish(raws)


def finish(raws: list[_Raw], cap: int = 100) -> RiskScore:
    """Round the factors exactly, cap the total at ``cap`` with a visible factor."""
    points = round_exact([r.points for r in raws])
    factors = [RiskFactor(r.name, p, r.en, r.vi) for r, p in zip(raws, points, strict=True)
               if p != 0]  # fmt: skip
    total = sum(points)
    if total > cap:
        factors.append(RiskFactor(
            "cap", cap - total, f"Capped at {cap} (the factors add up to {total})",
            f"Giới hạn ở {cap} (tổng các yếu tố là {total})"))
        total = cap
    return RiskScore(max(0, total), factors)


def network_score(host_scores: Sequence[tuple[str, int]]) -> RiskScore:
    """The network's score from its hosts': half the worst host, 30% the mean of the ten
    worst, 20% the share of hosts at 50 or more."""
    if not host_scores:
        return RiskScore(0, [])
    ranked = sorted(host_scores, key=lambda t: -t[1])
    worst_ip, worst = ranked[0]
    top = [s for _, s in ranked[:10]]
    risky = sum(1 for _, s in ranked if s >= 50)
    share = risky / len(ranked)
    raws = [
        _Raw("worst-host", 0.5 * worst, f"Half of the highest host score ({worst_ip}: {worst})",
             f"Một nửa điểm cao nhất của một máy ({worst_ip}: {worst})"),
        _Raw("top-hosts", 0.3 * sum(top) / len(top),
             f"30% of the mean of the {len(top)} highest host scores ({sum(top) / len(top):.1f})",
             f"30% trung bình {len(top)} điểm máy cao nhất ({sum(top) / len(top):.1f})"),
        _Raw("risky-share", 20 * share,
             f"{risky} of {len(ranked)} hosts score 50 or more (20 points x {share:.2f})",
             f"{risky} trên {len(ranked)} máy có điểm từ 50 trở lên (20 điểm x {share:.2f})"),
    ]  # fmt: skip
    return finish(raws)
