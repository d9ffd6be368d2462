"""Alerts and findings of an analyzed capture, as the alert pages and the dashboard ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.errors import ApplianceError
from appliance.service import Service
from appliance.service.alerts import AlertFilter
from tests.helpers.demo_store import analyze, analyzed_appliance, copy_appliance, demo_capture


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_appliance(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def service(analyzed: Path, tmp_path: Path) -> Iterator[Service]:
    svc = Service(load_config(copy_appliance(analyzed, tmp_path)))
    yield svc
    svc.close()


def test_the_inbox_lists_the_demo_attacks_newest_first(service: Service) -> None:
    page = service.alerts.list()
    assert page.total == len(page.items) >= 12
    times = [a.ts for a in page.items]
    assert times == sorted(times, reverse=True)
    keys = {a.gkey for a in page.items}
    assert {"sid:9000001", "sid:9000012", "sid:9000013", "sid:9000040", "finding:port-scan",
            "finding:brute-force", "finding:beaconing", "finding:dns-tunnel"} <= keys
    test_alert = next(a for a in page.items if a.sid == 9000001)
    assert (test_alert.src_ip, test_alert.dest_ip, test_alert.severity) == (
        "10.10.20.105", "10.10.1.10", 3)
    assert test_alert.as_json()["event_id"] == str(test_alert.event_id)


@pytest.mark.parametrize(("flt", "expected"), [
    (AlertFilter(event_type="finding"), lambda a: a.etype == "finding"),
    (AlertFilter(sid=9000040), lambda a: a.sid == 9000040),
    (AlertFilter(host="10.10.1.30"), lambda a: "10.10.1.30" in (a.src_ip, a.dest_ip)),
    (AlertFilter(severity=1), lambda a: a.severity == 1),
    (AlertFilter(category="reconnaissance"), lambda a: a.category == "reconnaissance"),
    (AlertFilter(sensor="dc-core"), lambda a: a.sensor == "dc-core"),
    (AlertFilter(q="cleartext"), lambda a: "leartext" in a.label),
    (AlertFilter(q="203.0.113.66"), lambda a: "203.0.113.66" in (a.src_ip, a.dest_ip)),
])  # fmt: skip
def test_filters_narrow_the_list(service: Service, flt: AlertFilter, expected) -> None:
    everything = service.alerts.list(AlertFilter(status=None)).items
    shown = service.alerts.list(flt).items
    assert shown and shown == [a for a in everything if expected(a)]


def test_time_range_and_paging(service: Service) -> None:
    everything = service.alerts.list().items
    middle = everything[len(everything) // 2].ts
    newer = service.alerts.list(AlertFilter(since_us=middle)).items
    assert newer == [a for a in everything if a.ts >= middle]
    page = service.alerts.list(offset=2, limit=3)
    assert page.items == everything[2:5] and page.total == len(everything)
    assert service.alerts.list(AlertFilter(sensor="elsewhere")).items == []


def test_grouping_by_signature_and_finding_type(service: Service) -> None:
    groups = {g.gkey: g for g in service.alerts.groups().items}
    assert groups["finding:cleartext-credentials"].count == 2
    assert groups["finding:cleartext-credentials"].sources == 2
    assert groups["sid:9000040"].label.startswith("SPANWATCH ATTACK_RESPONSE")
    counts = [g.count for g in service.alerts.groups().items]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) == service.alerts.list().total


def test_detail_has_the_raw_record_and_the_records_of_its_flow(service: Service) -> None:
    alert = service.alerts.list(AlertFilter(sid=9000001)).items[0]
    detail = service.alerts.get(alert.event_id)
    assert detail is not None and detail.record is not None
    assert detail.record["alert"]["signature_id"] == 9000001
    assert '"signature_id": 9000001' in detail.raw_json
    assert set(detail.related) >= {"http", "flow"}
    assert detail.related["http"][0]["http"]["url"].startswith("/spanwatch-test")
    assert all(r["flow_id"] == alert.flow_id for rs in detail.related.values() for r in rs)
    assert service.alerts.get(12345) is None


def test_a_finding_links_to_the_flow_in_its_evidence(service: Service) -> None:
    finding = service.alerts.list(AlertFilter(q="cleartext-credentials",
                                              host="10.10.20.108")).items[0]  # fmt: skip
    detail = service.alerts.get(finding.event_id)
    assert detail is not None
    assert detail.related["http"][0]["http"]["hostname"] == "mgmt.gov.example"
    assert detail.related["alert"][0]["alert"]["signature_id"] == 9000013


def test_archive_takes_alerts_out_of_the_inbox_and_is_recorded(service: Service) -> None:
    ids = [a.event_id for a in service.alerts.list(AlertFilter(event_type="alert")).items]
    before = service.alerts.list().total
    assert service.alerts.archive(ids[:2], actor="an") == 2
    assert service.alerts.archive(ids[:2], actor="an") == 0
    assert service.alerts.list().total == before - 2
    archived = service.alerts.list(AlertFilter(status="archived")).items
    assert sorted(a.event_id for a in archived) == sorted(ids[:2])
    detail = service.alerts.get(ids[0])
    assert detail is not None and [a["action"] for a in detail.actions] == ["archive"]
    assert detail.actions[0]["actor"] == "an"
    assert service.alerts.restore(ids[:1], actor="an") == 1
    assert service.alerts.list().total == before - 1


def test_archive_a_whole_group(service: Service) -> None:
    flt = AlertFilter(gkey="finding:host-sweep")
    assert service.alerts.archive_matching(flt, actor="an") == 2
    assert service.alerts.list(flt).items == []


def test_false_positive_needs_a_reason(service: Service) -> None:
    alert = service.alerts.list(AlertFilter(sid=9000001)).items[0]
    with pytest.raises(ApplianceError, match="why"):
        service.alerts.mark_false_positive([alert.event_id], actor="an", reason="  ")
    assert service.alerts.mark_false_positive([alert.event_id], actor="an",
                                              reason="our own test") == 1  # fmt: skip
    shown = service.alerts.list(AlertFilter(status="false-positive")).items
    assert [a.event_id for a in shown] == [alert.event_id]


def test_unknown_ids_and_bad_filters_are_refused(service: Service) -> None:
    with pytest.raises(ApplianceError, match="No alert"):
        service.alerts.archive([42], actor="an")
    with pytest.raises(ApplianceError, match="No alerts selected"):
        service.alerts.archive([], actor="an")


def test_dashboard_counts_come_from_the_rollups(service: Service) -> None:
    items = service.alerts.list().items
    since, until = min(a.ts for a in items), max(a.ts for a in items) + 1
    series = service.alerts.over_time(since, until)
    assert sum(p["alert"] for p in series) == sum(a.etype == "alert" for a in items)
    assert sum(p["finding"] for p in series) == sum(a.etype == "finding" for a in items)
    severities = service.alerts.severity_counts(since, until)
    assert severities == {s: sum(a.severity == s for a in items) for s in (1, 2, 3)}
    top = service.alerts.top("sig", since, until, n=3)
    assert top[0]["count"] == 2 and len(top) == 3
    findings = service.alerts.top("sig", since, until, etype="finding")
    assert all(t["key"].startswith("finding:") for t in findings)
    hosts = service.alerts.top("host", since, until, n=1)
    assert hosts[0]["key"] == "203.0.113.66"
    assert service.alerts.open_count() == len(items)
    # Nothing before the capture: every hour touched by the range is there, with zeros.
    empty = service.alerts.over_time(since - 6 * 3_600_000_000, since - 3_600_000_000)
    assert len(empty) == 6 and all(p["alert"] == p["finding"] == 0 for p in empty)


def test_escalate_opens_an_incident_with_the_alerts(service: Service) -> None:
    chosen = service.alerts.list(AlertFilter(host="10.10.1.30")).items
    incident_id = service.alerts.escalate([a.event_id for a in chosen], actor="an",
                                          title="FTP password in the clear")  # fmt: skip
    detail = service.incidents.get(incident_id)
    assert detail is not None and detail.incident.title == "FTP password in the clear"
    escalated = service.alerts.list(AlertFilter(status="escalated")).items
    assert {a.event_id for a in escalated} == {a.event_id for a in chosen}
    assert all(a.incident_id == incident_id for a in escalated)
    detail_of_first = service.alerts.get(chosen[0].event_id)
    assert detail_of_first is not None and detail_of_first.actions[0]["action"] == "escalate"


def test_suppress_hides_covered_alerts_now_and_later(service: Service, tmp_path: Path) -> None:
    sweep = service.alerts.list(AlertFilter(gkey="finding:host-sweep")).items
    with pytest.raises(ApplianceError, match="reason"):
        service.alerts.suppress(sweep[0].event_id, actor="an", reason="", expires_at=None)
    with pytest.raises(ApplianceError, match="past"):
        service.alerts.suppress(sweep[0].event_id, actor="an", reason="x", expires_at=1)
    sup_id = service.alerts.suppress(sweep[0].event_id, actor="an", reason="our scanner",
                                     expires_at=None, by="source")  # fmt: skip
    assert [s.id for s in service.incidents.suppressions()] == [sup_id]
    assert service.alerts.list(AlertFilter(gkey="finding:host-sweep")).items == []
    hidden = service.alerts.list(AlertFilter(status="suppressed")).items
    assert len(hidden) == len(sweep)
    # The same traffic analyzed again: its sweeps arrive suppressed, other findings do not.
    before_new = service.alerts.list().total
    again = demo_capture(tmp_path / "again.pcap", minutes=10)
    analyze(tmp_path / "appliance.yaml", [again])
    assert service.alerts.list(AlertFilter(gkey="finding:host-sweep")).items == []
    assert len(service.alerts.list(AlertFilter(status="suppressed")).items) > len(hidden)
    assert service.alerts.list().total > before_new


def test_groups_follow_triage_at_once(service: Service) -> None:
    first = {g.gkey: g.count for g in service.alerts.groups().items}
    assert service.alerts.groups().items[0].count == max(first.values())  # from the cache
    service.alerts.archive_matching(AlertFilter(gkey="finding:host-sweep"), actor="an")
    after = {g.gkey: g.count for g in service.alerts.groups().items}
    assert "finding:host-sweep" in first and "finding:host-sweep" not in after
