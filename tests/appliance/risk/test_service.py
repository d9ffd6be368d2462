"""Risk scores of a real capture (SSH password guessing), their history and inputs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.risk.score import DAY_US
from appliance.service import Page, Service
from tests.helpers.assets import analyze, load, pcap, write_config

pytestmark = pytest.mark.suricata
ATTACKER, VICTIM = "192.168.56.1", "192.168.56.103"


@pytest.fixture(scope="module")
def sshguess(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = write_config(tmp_path_factory.mktemp("risk"))
    analyze(config, [pcap("pcaps/brute-force/zeek_sshguess.pcap")])
    return config


@pytest.fixture
def service(sshguess: Path) -> Iterator[Service]:
    """The analysed store, with no open incidents unless a test opens some (the incident
    area, when installed, would otherwise hold the brute force as an incident)."""
    svc = Service(load(sshguess))
    svc.__dict__["incidents"] = _Incidents()
    try:
        yield svc
    finally:
        svc.close()


def test_with_the_installed_incident_area_scores_still_add_up(sshguess: Path) -> None:
    svc = Service(load(sshguess))
    try:
        svc.risk.recompute()
        (ip, top), *_ = svc.risk.top(5)
        assert ip == ATTACKER and top.score > 0
        assert sum(f.points for f in top.factors) == top.score
        assert svc.risk.network().score > 0
    finally:
        svc.close()


def test_brute_force_makes_the_attacker_the_riskiest_host(service: Service) -> None:
    service.risk.recompute()
    (ip, top), *rest = service.risk.top(5)
    assert ip == ATTACKER
    assert [f.name for f in top.factors] == ["finding:brute-force:source"]
    assert sum(f.points for f in top.factors) == top.score > 0
    assert "brute-force" in top.factors[0].detail_en
    victim = dict(rest)[VICTIM]
    assert victim.factors[0].name == "finding:brute-force:target"
    assert victim.score < top.score
    listed = service.assets.list(limit=1)  # sorted by risk
    assert listed.items[0].ip == ATTACKER and listed.items[0].risk == top.score


def test_the_offline_clock_is_the_end_of_the_capture(service: Service) -> None:
    # The capture is from 2015: scored as of its own end, not decayed by the years since.
    clock = service.risk.now_us()
    assert clock < 1_500_000_000_000_000
    assert service.risk.host(ATTACKER).score > 0


def test_history_keeps_one_score_per_day_and_decays(service: Service) -> None:
    clock = service.risk.now_us()
    service.risk.recompute(clock)
    later = clock + 7 * DAY_US
    network = service.risk.recompute(later)
    assert sum(f.points for f in network.factors) == network.score
    history = service.risk.history(ATTACKER, days=8, now_us=later)
    assert [day for day, _ in history] == [service.risk.day_start(clock),
                                           service.risk.day_start(later)]  # fmt: skip
    (_, then), (_, now) = history
    assert now == round(then / 2) or abs(now - then / 2) <= 1
    net = service.risk.history(None, days=8, now_us=later)
    assert len(net) == 2 and net[-1][1] == network.score
    assert service.risk.history(ATTACKER, days=1, now_us=later) == history[1:]
    service.risk.recompute(clock)  # leave today's scores as the other tests expect


def test_criticality_set_by_an_admin_raises_the_score(service: Service) -> None:
    before = service.risk.host(ATTACKER).score
    service.assets.update(ATTACKER, criticality="critical", owner="Phòng CNTT", actor="admin")
    try:
        after = service.risk.host(ATTACKER)
        assert after.factors[-1].name == "criticality"
        assert after.score == sum(f.points for f in after.factors) > before
        assert "Mức quan trọng then chốt" in after.factors[-1].detail_vi
        # The stored score (lists, top hosts) follows at once, not at the next recompute.
        listed = [a for a in service.assets.list(limit=50).items if a.ip == ATTACKER]
        assert listed[0].risk == after.score
    finally:
        service.assets.update(ATTACKER, criticality="normal", owner="", actor="admin")


@dataclass
class _Incident:
    id: int
    title: str
    title_vi: str
    severity: str
    attackers: list[str]
    victims: list[str]
    last_seen: int
    status: str = "new"


@dataclass
class _Held:
    kind: str
    key: str
    src_ip: str | None
    dest_ip: str | None


@dataclass
class _Detail:
    evidence: list[_Held]


@dataclass
class _Suppression:
    sid: int | None = None
    finding_type: str | None = None
    src: str | None = None
    dest: str | None = None


@dataclass
class _Incidents:
    """The incident area's list() as the risk seam reads it (A1's service, when present)."""

    items: list[_Incident] = field(default_factory=list)
    suppressed: list[_Suppression] = field(default_factory=list)
    held: dict[int, list[_Held]] = field(default_factory=dict)

    def for_host(self, ip: str, limit: int = 20) -> list[_Incident]:
        return [i for i in self.items if ip in i.attackers + i.victims][:limit]

    def get(self, incident_id: int) -> _Detail:
        return _Detail(self.held.get(incident_id, []))

    def suppressions(self, active_only: bool = True) -> list[_Suppression]:
        return self.suppressed

    def list(self, *, status: str | None = None, offset: int = 0,
             limit: int = 50) -> Page[_Incident]:  # fmt: skip
        chosen = self.items if status == "new" else []
        return Page(chosen[offset:offset + limit], len(chosen), offset, limit)


def test_open_incidents_add_a_factor(service: Service) -> None:
    clock = service.risk.now_us()
    service.__dict__["incidents"] = _Incidents([_Incident(
        9, "SSH brute force", "Dò mật khẩu SSH", "high", [ATTACKER], [VICTIM], clock)])
    try:
        assert "finding:brute-force:target" in [f.name for f in service.risk.host(VICTIM).factors]
        score = service.risk.host(VICTIM)
        names = [f.name for f in score.factors]
        assert "incident:9" in names
        assert sum(f.points for f in score.factors) == score.score
        incident = score.factors[names.index("incident:9")]
        assert incident.points in (12, 13)  # 25 x 0.5, rounded with the other factors
        assert "as victim" in incident.detail_en and "Dò mật khẩu SSH" in incident.detail_vi
    finally:
        service.__dict__["incidents"] = _Incidents()


def test_suppressed_evidence_stops_counting(service: Service) -> None:
    service.__dict__["incidents"] = _Incidents(suppressed=[
        _Suppression(finding_type="brute-force", src="192.168.56.0/24")])
    try:
        attacker = service.risk.host(ATTACKER)
        assert attacker.score == 0 and attacker.factors == []
        # The suppression names the source side only: the victim's evidence still counts.
        assert service.risk.host(VICTIM).score > 0
        service.__dict__["incidents"].suppressed = [
            _Suppression(finding_type="brute-force", src=ATTACKER, dest=VICTIM)]
        assert service.risk.host(ATTACKER).score > 0  # only A->B, A's other targets unknown
        service.__dict__["incidents"].suppressed = [_Suppression(sid=2001219)]
        assert service.risk.host(ATTACKER).score > 0  # another kind of evidence
    finally:
        service.__dict__["incidents"] = _Incidents()


def test_evidence_held_by_an_incident_counts_only_through_it(service: Service) -> None:
    clock = service.risk.now_us()
    alone = service.risk.host(ATTACKER)
    service.__dict__["incidents"] = _Incidents(
        [_Incident(9, "SSH brute force", "Dò mật khẩu SSH", "low", [ATTACKER], [VICTIM], clock)],
        held={9: [_Held("finding", "brute-force", ATTACKER, VICTIM)]})
    score = service.risk.host(ATTACKER)
    assert [f.name for f in score.factors] == ["incident:9"]
    # A low incident (4 points) holding a 10.5-point finding counts the finding's points.
    assert score.score == alone.score
    assert "its 1 alert or finding group(s) 10.5" in score.factors[0].detail_en
    victim = service.risk.host(VICTIM)
    assert [f.name for f in victim.factors] == ["incident:9"]


def test_resolved_incidents_do_not_count(service: Service) -> None:
    clock = service.risk.now_us()
    service.__dict__["incidents"] = _Incidents([_Incident(
        9, "SSH brute force", "Dò mật khẩu SSH", "critical", [ATTACKER], [VICTIM], clock,
        status="resolved")])  # fmt: skip
    assert "incident:9" not in [f.name for f in service.risk.host(ATTACKER).factors]
