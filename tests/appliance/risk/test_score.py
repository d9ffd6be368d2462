"""The risk formula: factors add up to the score, decay with age, caps, criticality."""

from __future__ import annotations

import itertools

import pytest

from appliance.config_assets import RiskConfig
from appliance.risk.score import (
    DAY_US,
    Evidence,
    IncidentRef,
    ServiceRef,
    decay,
    host_score,
    network_score,
    round_exact,
)

NOW = 1_800_000_000_000_000
CFG = RiskConfig()


def _finding(kind: str = "brute-force", *, sev: int = 2, conf: float = 0.9, role: str = "source",
             age_days: float = 0.0) -> Evidence:  # fmt: skip
    return Evidence(role, "finding", kind, kind, "credential-access", sev, conf, 3,
                    NOW - int(age_days * DAY_US))  # fmt: skip


def _score(evidence=(), incidents=(), services=(), criticality="normal", now=NOW):  # type: ignore[no-untyped-def]
    return host_score(evidence=list(evidence), incidents=list(incidents),
                      services=list(services), criticality=criticality, now_us=now, cfg=CFG)


def test_a_fresh_finding_scores_severity_times_confidence() -> None:
    score = _score([_finding(sev=2, conf=0.9)])
    assert score.score == round(15 * 0.9)
    [factor] = score.factors
    assert factor.name == "finding:brute-force:source" and factor.points == score.score
    assert "confidence 0.90" in factor.detail_en and "độ tin cậy 0.90" in factor.detail_vi


def test_decay_halves_per_half_life_under_a_controlled_clock() -> None:
    fresh = _score([_finding(sev=1, conf=1.0)])
    week = _score([_finding(sev=1, conf=1.0)], now=NOW + 7 * DAY_US)
    two_weeks = _score([_finding(sev=1, conf=1.0)], now=NOW + 14 * DAY_US)
    gone = _score([_finding(sev=1, conf=1.0)], now=NOW + 31 * DAY_US)
    assert (fresh.score, week.score, two_weeks.score, gone.score) == (30, 15, 8, 0)
    assert gone.factors == []
    assert "decay x0.50" in week.factors[0].detail_en
    assert decay(NOW, NOW - DAY_US, CFG) == 1.0  # evidence from "the future" is fresh


def test_the_target_of_an_attack_gets_a_share() -> None:
    score = _score([_finding(sev=1, conf=1.0, role="target")])
    assert score.score == 15
    assert "against this host" in score.factors[0].detail_en


@pytest.mark.parametrize("criticality", ["low", "normal", "high", "critical"])
def test_factors_always_add_up_to_the_score(criticality: str) -> None:
    evidence = [_finding(f"type-{i}", sev=1 + i % 3, conf=0.33 + i / 50, age_days=i / 3,
                         role=("source", "target")[i % 2]) for i in range(14)]  # fmt: skip
    incidents = [IncidentRef(7, "SSH brute force", "Dò mật khẩu SSH", "high", "victim", NOW)]
    services = [ServiceRef(p, "TCP", app, tls, ext) for p, app, tls, ext in (
        (21, "ftp", None, 3), (23, None, None, 0), (443, "tls", "TLSv1", 9),
        (8443, "tls", "TLS 1.1", 0), (22, "ssh", None, 2))]  # fmt: skip
    for n in range(0, 15, 2):
        score = _score(evidence[:n], incidents[: n % 2 + 1], services[: n // 3], criticality)
        assert sum(f.points for f in score.factors) == score.score
        assert 0 <= score.score <= 100


def test_a_score_over_100_is_capped_by_a_visible_factor() -> None:
    evidence = [_finding(f"t{i}", sev=1, conf=1.0) for i in range(6)]
    score = _score(evidence, criticality="critical")
    assert score.score == 100
    cap = score.factors[-1]
    assert cap.name == "cap" and cap.points < 0
    assert sum(f.points for f in score.factors) == 100
    assert "Capped at 100" in cap.detail_en and "Giới hạn ở 100" in cap.detail_vi


def test_many_evidence_groups_are_summarised() -> None:
    evidence = [_finding(f"t{i}", sev=3, conf=0.5) for i in range(12)]
    score = _score(evidence)
    names = [f.name for f in score.factors]
    assert names[-1] == "other-evidence" and len(names) == 9
    assert sum(f.points for f in score.factors) == score.score == round(12 * 5 * 0.5)


def test_exposure_external_cleartext_and_weak_tls() -> None:
    services = [ServiceRef(21, "TCP", "ftp", None, 4), ServiceRef(443, "TCP", "tls", "TLSv1", 0),
                ServiceRef(22, "TCP", "ssh", None, 0)]  # fmt: skip
    score = _score(services=services)
    by_name = {f.name: f for f in score.factors}
    assert by_name["exposure:external"].points == 6
    assert "21/tcp ftp" in by_name["exposure:external"].detail_en
    assert by_name["exposure:cleartext"].points == 4
    assert by_name["exposure:weak-tls"].points == 5
    assert "443/tcp TLSv1" in by_name["exposure:weak-tls"].detail_vi
    many = [ServiceRef(1000 + i, "TCP", None, None, 1) for i in range(10)]
    assert {f.name: f.points for f in _score(services=many).factors} == {"exposure:external": 24}


def test_criticality_scales_and_low_criticality_subtracts() -> None:
    evidence = [_finding(sev=1, conf=1.0)]
    high = _score(evidence, criticality="high")
    low = _score(evidence, criticality="low")
    assert high.score == 38 and high.factors[-1].name == "criticality"
    assert high.factors[-1].points == 8
    assert low.score == 24 and low.factors[-1].points == -6
    assert _score([], criticality="critical").score == 0  # nothing to scale


def test_open_incidents_count_by_severity() -> None:
    inc = IncidentRef(3, "Beaconing to 203.0.113.7", "Gửi tín hiệu định kỳ", "critical",
                      "attacker", NOW)  # fmt: skip
    score = _score(incidents=[inc])
    assert score.score == 40
    assert score.factors[0].name == "incident:3"
    assert "#3" in score.factors[0].detail_vi


def test_round_exact_keeps_the_sum() -> None:
    for values in itertools.permutations([1.4, 1.4, 1.4, -0.6, 2.5], 5):
        assert sum(round_exact(values)) == round(sum(values))


def test_network_score_from_hosts() -> None:
    assert network_score([]).score == 0
    score = network_score([("10.0.0.1", 80), ("10.0.0.2", 20), ("10.0.0.3", 0)])
    assert sum(f.points for f in score.factors) == score.score
    assert score.score == round(40 + 0.3 * 100 / 3 + 20 / 3)
    assert "10.0.0.1: 80" in score.factors[0].detail_en
    assert network_score([("10.0.0.1", 100)]).score == 100
