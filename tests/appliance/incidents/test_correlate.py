"""The correlator on synthetic alerts and findings in a real store: stories, counts, noise,
reopening, suppressions with an expiry, false positives, incremental runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.incidents.correlate import Correlator
from appliance.incidents.service import IncidentService
from appliance.service import Service
from tests.helpers.incident_store import add_records, alert, finding, incident_config, us

ATTACKER = "203.0.113.45"
OTHER_ATTACKER = "198.51.100.9"
BASTION = "10.0.0.9"
C2 = "198.51.100.147"


class Clock:
    """A clock the test moves by hand (UTC µs)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(incident_config(tmp_path))
    yield svc
    svc.close()


def _campaign() -> list[dict]:
    """Scan → brute force → the bastion beacons → it leaks data, in stored (not time) order."""
    return [
        finding(35, "dns-exfiltration", "exfiltration", BASTION, None),
        finding(1, "host-sweep", "reconnaissance", ATTACKER, None,
                evidence={"first": "2026-11-20T10:00:00.000000+0000"}),
        finding(36, "beaconing", "command-and-control", BASTION, C2,
                evidence={"first_timestamp": "2026-11-20T10:20:00.000000+0000"}),
        finding(4, "port-scan", "reconnaissance", ATTACKER, BASTION),
        finding(15, "brute-force", "credential-access", ATTACKER, BASTION,
                evidence={"first_timestamp": "2026-11-20T10:06:00.000000+0000"}),
    ]  # fmt: skip


@pytest.mark.parametrize("one_record_per_run", [False, True])
def test_a_multi_stage_intrusion_is_one_incident_with_its_stages_in_order(
        service: Service, one_record_per_run: bool) -> None:  # fmt: skip
    correlator = Correlator(service, batch_chunks=1)
    for record in _campaign():
        add_records(service.store, [record])
        if one_record_per_run:
            correlator.run_once(max_batches=1)
    correlator.run_once()
    page = service.incidents.list()
    assert page.total == 1
    (inc,) = page.items
    assert inc.stages == ["reconnaissance", "credential-access", "command-and-control",
                          "exfiltration"]  # fmt: skip
    assert inc.attackers[0] == ATTACKER and C2 in inc.attackers
    assert inc.victims == [BASTION]
    assert inc.finding_count == 5 and inc.first_seen == us(0)
    assert inc.severity == "critical"
    assert "10.0.0.9" in inc.title and "Trinh sát" in inc.title_vi


def test_repeated_alerts_become_one_evidence_row_with_a_count(service: Service) -> None:
    add_records(service.store, [alert(m, ATTACKER, BASTION, 2001219, "ET SCAN Potential SSH "
                                      "Scan", category="Attempted Information Leak")
                                for m in range(100)])  # fmt: skip
    result = Correlator(service).run_once()
    assert len(result.new) == 1 and result.records == 100
    detail = service.incidents.get(result.new[0])
    assert detail is not None
    (ev,) = detail.evidence
    assert (ev.kind, ev.key, ev.count, ev.stage) == ("alert", "2001219", 100, "reconnaissance")
    assert (ev.first_seen, ev.last_seen) == (us(0), us(99)) and detail.evidence_total == 1
    assert detail.incident.alert_count == 100
    assert [h.action for h in detail.history] == ["opened"]


def test_engine_noise_opens_no_incident(service: Service) -> None:
    noise = [alert(m / 10, "10.0.0.7", "10.0.0.8", 2200074, "SURICATA TCPv4 invalid checksum",
                   category="Generic Protocol Command Decode", severity=3)
             for m in range(500)]  # fmt: skip
    noise += [alert(1, "10.0.0.7", "10.0.0.8", 2210045, "SURICATA STREAM Packet with invalid "
                    "ack", category="Generic Protocol Command Decode", severity=1)]  # fmt: skip
    add_records(service.store, noise)
    result = Correlator(service).run_once()
    assert result.noise == 501 and result.new == []
    assert service.incidents.list().total == 0


def test_unrelated_attackers_are_separate_incidents(service: Service) -> None:
    add_records(service.store, [
        alert(0, ATTACKER, BASTION, 2019284, "ET EXPLOIT Possible CVE-2014-6271 Attempt",
              severity=1),
        alert(5, OTHER_ATTACKER, "10.0.0.20", 2024897, "ET SCAN Nmap Scripting Engine",
              category="Web Application Attack"),
    ])  # fmt: skip
    result = Correlator(service).run_once()
    assert len(result.new) == 2
    hosts = {(tuple(i.attackers), tuple(i.victims)) for i in service.incidents.list().items}
    assert hosts == {((ATTACKER,), (BASTION,)), ((OTHER_ATTACKER,), ("10.0.0.20",))}


def test_mild_alerts_join_an_incident_but_open_none(service: Service) -> None:
    add_records(service.store, [alert(0, "10.0.0.30", "192.0.2.1", 2013028,
                                      "ET POLICY curl User-Agent Outbound", severity=3)])
    assert Correlator(service).run_once().new == []
    add_records(service.store, [
        alert(10, ATTACKER, BASTION, 2019284, "ET EXPLOIT Possible CVE-2014-6271", severity=1),
        alert(11, ATTACKER, BASTION, 2013028, "ET POLICY curl User-Agent Outbound", severity=3),
    ])  # fmt: skip
    result = Correlator(service).run_once()
    assert len(result.new) == 1
    detail = service.incidents.get(result.new[0])
    assert detail is not None and {e.key for e in detail.evidence} == {"2019284", "2013028"}


def test_runs_are_incremental_and_count_each_record_once(service: Service) -> None:
    correlator = Correlator(service)
    add_records(service.store, [alert(m, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1) for m in range(3)])  # fmt: skip
    first = correlator.run_once()
    assert len(first.new) == 1
    again = correlator.run_once()
    assert (again.new, again.updated, again.records) == ([], [], 0)
    add_records(service.store, [alert(m, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1) for m in range(3, 5)])  # fmt: skip
    # A second correlator (another process) continues from the same cursor.
    later = Correlator(service).run_once()
    assert later.updated == first.new and later.records == 2
    (inc,) = service.incidents.list().items
    assert inc.alert_count == 5 and inc.last_seen == us(4)


def test_a_resolved_incident_reopens_on_new_evidence(service: Service) -> None:
    correlator = Correlator(service)
    add_records(service.store, [alert(0, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
    (iid,) = correlator.run_once().new
    service.incidents.set_status(iid, "acknowledged", actor="an")
    service.incidents.set_status(iid, "resolved", actor="an", note="patched")
    assert service.incidents.list(status="open").total == 0
    add_records(service.store, [alert(90, ATTACKER, BASTION, 2019285, "ET EXPLOIT Y",
                                      severity=1)])  # fmt: skip
    result = correlator.run_once()
    assert result.reopened == [iid] and result.new == []
    detail = service.incidents.get(iid)
    assert detail is not None
    assert detail.incident.status == "new" and detail.incident.reopened == 1
    assert [(h.actor, h.action) for h in detail.history] == [
        ("correlator", "opened"), ("an", "status"), ("an", "status"),
        ("correlator", "reopened")]  # fmt: skip
    assert detail.incident.alert_count == 2


def test_a_suppression_stops_its_kind_until_it_expires(tmp_path: Path) -> None:
    clock = Clock(us(0))
    svc = Service(incident_config(tmp_path))
    try:
        incidents = IncidentService(svc, clock=clock)
        correlator = Correlator(svc, clock=clock)
        sup = incidents.suppress(sid=2019284, src="203.0.113.0/24", reason="our pentest",
                                 expires_at=us(60), actor="an")  # fmt: skip
        add_records(svc.store, [alert(m, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1) for m in range(10)])  # fmt: skip
        # The same signature from another source is not suppressed.
        add_records(svc.store, [alert(3, OTHER_ATTACKER, "10.0.0.20", 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
        result = correlator.run_once()
        assert result.suppressed == 10 and len(result.new) == 1
        assert svc.incidents.list().items[0].attackers == [OTHER_ATTACKER]
        assert [s.hits for s in incidents.suppressions()] == [10]
        clock.now = us(61)  # the suppression has expired
        assert incidents.suppressions() == []
        add_records(svc.store, [alert(70, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
        result = correlator.run_once()
        assert result.suppressed == 0 and len(result.new) == 1
        assert [s.id for s in incidents.suppressions(active_only=False)] == [sup]
    finally:
        svc.close()


def test_a_false_positive_stays_quiet_but_new_kinds_still_open(service: Service) -> None:
    correlator = Correlator(service)
    add_records(service.store, [alert(0, "10.0.0.40", "192.0.2.80", 2027865,
                                      "ET INFO Observed DNS Query to .cloud TLD", severity=1)])
    (iid,) = correlator.run_once().new
    service.incidents.mark_false_positive(iid, actor="an", reason="the backup service")
    add_records(service.store, [alert(m, "10.0.0.40", "192.0.2.80", 2027865,
                                      "ET INFO Observed DNS Query to .cloud TLD", severity=1)
                                for m in range(5, 50)])  # fmt: skip
    result = correlator.run_once()
    assert (result.new, result.reopened, result.suppressed) == ([], [], 45)
    detail = service.incidents.get(iid)
    assert detail is not None and detail.incident.status == "false-positive"
    add_records(service.store, [alert(60, "10.0.0.40", "192.0.2.80", 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
    assert len(correlator.run_once().new) == 1


def test_a_flood_from_many_sources_is_one_incident(service: Service) -> None:
    add_records(service.store, [alert(m / 100, f"198.51.100.{m}", BASTION, 2024364,
                                      "ET DOS Possible SYN Flood", severity=2)
                                for m in range(1, 200)])  # fmt: skip
    result = Correlator(service).run_once()
    assert len(result.new) == 1
    (inc,) = service.incidents.list().items
    assert inc.stages == ["impact"] and inc.victims == [BASTION] and len(inc.attackers) == 50
    assert "+198 more" in inc.title
    detail = service.incidents.get(inc.id, evidence_limit=10)
    assert detail is not None and (len(detail.evidence), detail.evidence_total) == (10, 199)


def test_two_processes_correlating_at_once_count_nothing_twice(service: Service) -> None:
    from appliance.incidents.correlate import CorrelationResult
    from appliance.incidents.noise import SuppressionSet

    add_records(service.store, [alert(m, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1) for m in range(4)])  # fmt: skip
    other = Service(service.cfg)
    try:
        slow, fast = Correlator(service), Correlator(other)
        upto, records = service.store.events_after_chunk(0, kind="alerts")
        result = CorrelationResult()
        observations, hits = slow._observe(records, SuppressionSet([], 0), result)
        assert len(fast.run_once().new) == 1  # the other process commits first
        assert slow._apply(0, upto, observations, hits, us(0), result) is False
        slow._forget()
        assert slow.run_once().records == 0
    finally:
        other.close()
    (inc,) = service.incidents.list().items
    assert inc.alert_count == 4


def test_an_analysts_change_during_a_run_is_not_written_over(service: Service) -> None:
    correlator = Correlator(service)
    add_records(service.store, [alert(0, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
    (iid,) = correlator.run_once().new
    correlator._reload = lambda: None  # type: ignore[method-assign]  # loaded just before
    service.incidents.set_status(iid, "investigating", actor="an")
    add_records(service.store, [alert(1, ATTACKER, BASTION, 2019284, "ET EXPLOIT X",
                                      severity=1)])  # fmt: skip
    assert correlator.run_once().updated == [iid]
    detail = service.incidents.get(iid)
    assert detail is not None
    assert (detail.incident.status, detail.incident.alert_count) == ("investigating", 2)


def test_a_critical_victim_raises_the_severity_and_a_low_one_lowers_it(
        service: Service) -> None:  # fmt: skip
    created, _, errors = service.assets.import_csv(
        "ip,criticality\n10.0.0.9,critical\n10.0.0.20,low\n", actor="an")  # fmt: skip
    assert (created, errors) == (2, [])
    add_records(service.store, [
        alert(0, ATTACKER, BASTION, 2019284, "ET EXPLOIT X", severity=1),
        alert(0, OTHER_ATTACKER, "10.0.0.20", 2019284, "ET EXPLOIT X", severity=1),
        alert(0, "192.0.2.77", "10.0.0.21", 2019284, "ET EXPLOIT X", severity=1),
    ])  # fmt: skip
    Correlator(service).run_once()
    severity = {i.victims[0]: i.severity for i in service.incidents.list().items}
    assert severity == {BASTION: "critical", "10.0.0.20": "medium", "10.0.0.21": "high"}
