"""STIX 2.1 bundles of incidents validate with the stix2 library and say what happened."""

from __future__ import annotations

import json

import stix2

from appliance.sharing import bundle
from tests.helpers.incidents import FakeIncident


def test_an_incident_bundle_validates_and_round_trips() -> None:
    inc = FakeIncident(id=12, severity="critical", attackers=["203.0.113.7", "2001:db8::66"],
                       victims=["192.0.2.10"],
                       stages=["reconnaissance", "credential-access", "command-and-control"])
    out = bundle([(inc, ["alert ET SCAN Nmap (40x)"])], organisation="Sở TT&TT",
                 appliance="center-1")  # fmt: skip
    text = out.serialize(pretty=True)
    parsed = stix2.parse(text, allow_custom=False)  # validates every object
    by_type: dict[str, list] = {}
    for obj in parsed.objects:
        by_type.setdefault(obj.type, []).append(obj)
    (incident,) = by_type["incident"]
    assert incident.name == inc.title and "Quét cổng" in incident.description
    assert [p.phase_name for p in incident.kill_chain_phases] == inc.stages
    assert {i.pattern for i in by_type["indicator"]} == {
        "[ipv4-addr:value = '203.0.113.7']", "[ipv6-addr:value = '2001:db8::66']"}
    assert {a.value for a in by_type["ipv4-addr"]} == {"203.0.113.7", "192.0.2.10"}
    assert by_type["identity"][0].name == "Sở TT&TT"
    assert {s.count for s in by_type["sighting"]} == {14}
    rels = {(r.relationship_type, r.source_ref.split("--")[0], r.target_ref.split("--")[0])
            for r in by_type["relationship"]}  # fmt: skip
    assert rels == {("indicates", "indicator", "incident"), ("targets", "incident", "ipv4-addr")}
    assert json.loads(text)["type"] == "bundle"


def test_exporting_again_gives_the_same_ids_and_shared_objects_once() -> None:
    two = [(FakeIncident(id=1), []), (FakeIncident(id=2), [])]
    first = bundle(two, organisation="", appliance="center-1")
    second = bundle(two, organisation="", appliance="center-1")
    assert [o.id for o in first.objects] == [o.id for o in second.objects]
    ids = [o.id for o in first.objects]
    assert len(ids) == len(set(ids))
    assert sum(1 for o in first.objects if o.type == "incident") == 2
    assert sum(1 for o in first.objects if o.type == "identity") == 1
