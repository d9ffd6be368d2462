"""Service.incidents: filters and pages, detail, lifecycle with history and audit, manual
escalation, severity by hand, suppressions' validation, counts and summaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.audit import AuditService
from appliance.incidents.correlate import Correlator
from appliance.incidents.model import TriageError
from appliance.service import Service
from tests.helpers.incident_store import add_records, alert, finding, incident_config, us

ATTACKER, VICTIM = "203.0.113.45", "10.0.0.9"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(incident_config(tmp_path))
    add_records(svc.store, [
        alert(0, ATTACKER, VICTIM, 2019284, "ET EXPLOIT Possible CVE-2014-6271", severity=1),
        finding(30, "port-scan", "reconnaissance", "198.51.100.7", "10.0.0.20"),
        finding(50, "beaconing", "command-and-control", "10.0.0.30", "192.0.2.66"),
    ])  # fmt: skip
    Correlator(svc).run_once()
    yield svc
    svc.close()


def _id_of(service: Service, host: str) -> int:
    (inc,) = service.incidents.for_host(host)
    return inc.id


def test_filters_and_pages(service: Service) -> None:
    incidents = service.incidents
    assert incidents.list().total == 3
    assert [i.victims for i in incidents.list(host=VICTIM).items] == [[VICTIM]]
    assert incidents.list(host="10.0.0.30").items[0].stages == ["command-and-control"]
    assert incidents.list(severity="high").total == 1
    assert incidents.list(since_us=us(40)).total == 1
    assert incidents.list(until_us=us(10)).total == 1
    assert incidents.list(q="198.51.100.7").total == 1
    assert incidents.list(q="100%_").total == 0
    page = incidents.list(limit=2, offset=2)
    assert (len(page.items), page.total, page.offset) == (1, 3, 2)
    assert [i.last_seen for i in incidents.list().items] == sorted(
        (i.last_seen for i in incidents.list().items), reverse=True)  # fmt: skip
    assert [i.id for i in incidents.list(order="id").items] == [3, 2, 1]
    assert incidents.get(999) is None


def test_the_lifecycle_is_recorded_with_who_and_when(service: Service) -> None:
    incidents = service.incidents
    iid = _id_of(service, VICTIM)
    incidents.set_status(iid, "acknowledged", actor="lan")
    incidents.assign(iid, "minh", actor="lan")
    cid = incidents.comment(iid, "  <b>isolated</b> the host  ", actor="minh")
    incidents.set_status(iid, "investigating", actor="minh", note="memory image taken")
    incidents.set_status(iid, "resolved", actor="minh")
    detail = incidents.get(iid)
    assert detail is not None
    assert (detail.incident.status, detail.incident.assignee) == ("resolved", "minh")
    assert [(h.actor, h.action) for h in detail.history] == [
        ("correlator", "opened"), ("lan", "status"), ("lan", "assign"), ("minh", "comment"),
        ("minh", "status"), ("minh", "status")]  # fmt: skip
    assert detail.history[4].detail == "investigating: memory image taken"
    assert all(h.ts > 0 for h in detail.history)
    assert [(c.id, c.author, c.text) for c in detail.comments] == [
        (cid, "minh", "<b>isolated</b> the host")]  # fmt: skip
    logged = AuditService(service.state).list(action="incident").items
    assert {e.action for e in logged} == {"incident.status", "incident.assign",
                                          "incident.comment"}  # fmt: skip
    assert incidents.summary(0, 2**62) == {"opened": 3, "resolved": 1, "open": 2}
    assert incidents.counts_by_severity() == {"critical": 0, "high": 0, "medium": 2, "low": 0}


def test_bad_changes_are_refused_and_change_nothing(service: Service) -> None:
    incidents = service.incidents
    iid = _id_of(service, VICTIM)
    with pytest.raises(ValueError, match="status must be one of"):
        incidents.set_status(iid, "closed", actor="lan")
    with pytest.raises(KeyError):
        incidents.set_status(999, "resolved", actor="lan")
    with pytest.raises(TriageError, match="comment must not be empty") as refused:
        incidents.comment(iid, "   ", actor="lan")
    assert refused.value.vi == "bình luận không được để trống"
    with pytest.raises(ValueError, match="a reason is required"):
        incidents.mark_false_positive(iid, actor="lan", reason=" ")
    with pytest.raises(ValueError, match="severity must be one of"):
        incidents.set_severity(iid, "urgent", actor="lan")
    detail = incidents.get(iid)
    assert detail is not None and detail.incident.status == "new"
    assert [h.action for h in detail.history] == ["opened"]


def test_suppressions_are_validated(service: Service) -> None:
    incidents = service.incidents
    with pytest.raises(ValueError, match="needs a signature id"):
        incidents.suppress(reason="x", actor="lan")
    with pytest.raises(ValueError, match="not an address"):
        incidents.suppress(src="10.0.0.999/8", reason="x", actor="lan")
    with pytest.raises(ValueError, match="not both"):
        incidents.suppress(sid=1, finding_type="port-scan", reason="x", actor="lan")
    with pytest.raises(ValueError, match="in the past"):
        incidents.suppress(sid=1, reason="x", expires_at=1, actor="lan")
    sup = incidents.suppress(finding_type="port-scan", src="198.51.100.7", reason="scanner",
                             actor="lan")  # fmt: skip
    (item,) = incidents.suppressions()
    assert (item.id, item.src, item.finding_type) == (sup, "198.51.100.7/32", "port-scan")
    incidents.remove_suppression(sup, actor="lan")
    assert incidents.suppressions() == []
    with pytest.raises(KeyError):
        incidents.remove_suppression(sup, actor="lan")


def test_a_hand_set_severity_stays_when_evidence_arrives(service: Service) -> None:
    iid = _id_of(service, VICTIM)
    service.incidents.set_severity(iid, "critical", actor="lan")
    add_records(service.store, [alert(5, ATTACKER, VICTIM, 2019284, "ET EXPLOIT Possible "
                                      "CVE-2014-6271", severity=1)])  # fmt: skip
    assert Correlator(service).run_once().updated == [iid]
    detail = service.incidents.get(iid)
    assert detail is not None
    assert (detail.incident.severity, detail.incident.alert_count) == ("critical", 2)


def test_alerts_are_escalated_by_hand(service: Service) -> None:
    ids = add_records(service.store, [
        alert(70, "192.0.2.5", "10.0.0.40", 2013028, "ET POLICY curl User-Agent", severity=3),
        alert(71, "192.0.2.5", "10.0.0.40", 2013028, "ET POLICY curl User-Agent", severity=3),
    ])  # fmt: skip
    iid = service.incidents.escalate(ids, actor="lan", title="Suspicious tool on the web tier")
    detail = service.incidents.get(iid)
    assert detail is not None
    assert detail.incident.title == "Suspicious tool on the web tier"
    assert detail.incident.attackers == ["192.0.2.5"] and detail.evidence[0].count == 2
    assert [(h.actor, h.action) for h in detail.history] == [("lan", "escalated")]
    with pytest.raises(ValueError, match="none of these events"):
        service.incidents.escalate([12345], actor="lan")


def test_a_merged_incident_leads_to_the_one_it_joined(tmp_path: Path) -> None:
    svc = Service(incident_config(tmp_path))
    try:
        correlator = Correlator(svc, batch_chunks=1)
        add_records(svc.store, [finding(30, "beaconing", "command-and-control", VICTIM,
                                        "192.0.2.66")])  # fmt: skip
        (first,) = correlator.run_once().new
        add_records(svc.store, [finding(1, "port-scan", "reconnaissance", ATTACKER, "10.0.0.77")])
        (second,) = correlator.run_once().new
        # The scanner now brute-forces the beaconing host: both stories are one.
        add_records(svc.store, [finding(10, "brute-force", "credential-access", ATTACKER,
                                        VICTIM)])  # fmt: skip
        assert correlator.run_once().merged == [second]
        detail = svc.incidents.get(second)
        assert detail is not None and detail.incident.id == first
        assert detail.incident.stages == ["reconnaissance", "credential-access",
                                          "command-and-control"]  # fmt: skip
        assert svc.incidents.list().total == 1
    finally:
        svc.close()


def test_an_incident_is_told_as_a_story_in_both_languages(service: Service) -> None:
    add_records(service.store, [
        {**finding(2, "brute-force", "credential-access", ATTACKER, VICTIM),
         "finding": {"type": "brute-force", "category": "credential-access", "severity": 2,
                     "confidence": 0.9, "evidence": {},
                     "explanation": {"en": "48 SSH guesses", "vi": "48 lần đoán SSH"}}},
        alert(3, ATTACKER, VICTIM, 2019284, "ET EXPLOIT Possible CVE-2014-6271", severity=1),
    ])  # fmt: skip
    Correlator(service).run_once()
    story = service.incidents.story(_id_of(service, VICTIM))
    assert [line.en for line in story] == [
        'initial access: 203.0.113.45 → 10.0.0.9, alert "ET EXPLOIT Possible CVE-2014-6271" '
        "(sid 2019284) 2 times", "48 SSH guesses"]  # fmt: skip
    assert story[1].vi == "48 lần đoán SSH" and story[0].vi.startswith("xâm nhập ban đầu")
    assert story[0].ts == us(0) and service.incidents.story(999) == []
