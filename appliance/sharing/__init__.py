"""Sharing incidents with the national information-security authority as STIX 2.1.

An incident becomes a bundle of: the reporting organisation (``identity``), the
``incident`` (title, severity, attack stages as ATT&CK tactics, time range), an
``indicator`` per attacking address with a ``sighting`` of it (first/last seen, count),
the addresses as ``ipv4-addr``/``ipv6-addr`` objects, and relationships from indicator
to incident and from incident to each victim. Ids are derived from the appliance and
the incident id, so exporting again yields the same objects (the receiver deduplicates).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import stix2

if TYPE_CHECKING:
    from appliance.service import Service

#: Namespace of our deterministic STIX ids.
NAMESPACE = uuid.UUID("6a1c0f2e-3b7d-5e1a-9c2f-4d8b7a6e5f10")
STIX_SEVERITY = {"critical": 95, "high": 75, "medium": 50, "low": 25}


def _time(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1e6, tz=dt.UTC)


def _sid(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '/'.join(str(p) for p in parts))}"


def _address(ip: str) -> Any:
    version = ipaddress.ip_address(ip).version
    return stix2.IPv4Address(value=ip) if version == 4 else stix2.IPv6Address(value=ip)


def identity(organisation: str, appliance: str) -> stix2.Identity:
    """The reporting organisation."""
    return stix2.Identity(
        id=_sid("identity", appliance), name=organisation or f"spanwatch {appliance}",
        identity_class="organization", created=_time(0), modified=_time(0),
    )  # fmt: skip


def incident_objects(incident: Any, who: stix2.Identity, appliance: str,
                     evidence: list[str] | None = None) -> list[Any]:  # fmt: skip
    """STIX objects for one incident (model fields of ``appliance.incidents.model``)."""
    key = (appliance, incident.id)
    created, modified = _time(incident.first_seen), _time(max(incident.last_seen,
                                                              incident.first_seen))  # fmt: skip
    lines = [incident.title_vi, f"Severity: {incident.severity}. Status: {incident.status}.",
             f"Attackers: {', '.join(incident.attackers) or '-'}; "
             f"victims: {', '.join(incident.victims) or '-'}.",
             f"{incident.alert_count} alerts, {incident.finding_count} findings."]  # fmt: skip
    lines += [f"Evidence: {e}" for e in (evidence or [])[:20]]
    inc = stix2.Incident(
        id=_sid("incident", *key), created_by_ref=who.id, created=created, modified=modified,
        name=incident.title, description="\n".join(lines),
        labels=[f"severity:{incident.severity}"],
        confidence=STIX_SEVERITY.get(incident.severity, 50),
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": s}
                           for s in incident.stages],
        external_references=[{"source_name": "spanwatch", "external_id": str(incident.id)}],
    )  # fmt: skip
    objects: list[Any] = [inc]
    for ip in incident.attackers:
        addr = _address(ip)
        kind = "ipv4-addr" if isinstance(addr, stix2.IPv4Address) else "ipv6-addr"
        indicator = stix2.Indicator(
            id=_sid("indicator", *key, ip), created_by_ref=who.id, created=created,
            modified=modified, name=f"Attacker {ip}", indicator_types=["malicious-activity"],
            pattern=f"[{kind}:value = '{ip}']", pattern_type="stix", valid_from=created,
        )  # fmt: skip
        objects += [addr, indicator,
                    stix2.Relationship(id=_sid("relationship", *key, ip, "indicates"),
                                       created_by_ref=who.id, created=created,
                                       modified=modified, relationship_type="indicates",
                                       source_ref=indicator.id, target_ref=inc.id),
                    stix2.Sighting(id=_sid("sighting", *key, ip), created_by_ref=who.id,
                                   created=created, modified=modified,
                                   sighting_of_ref=indicator.id, first_seen=created,
                                   last_seen=modified,
                                   count=max(1, incident.alert_count + incident.finding_count),
                                   where_sighted_refs=[who.id])]  # fmt: skip
    for ip in incident.victims:
        addr = _address(ip)
        objects += [addr, stix2.Relationship(
            id=_sid("relationship", *key, ip, "targets"), created_by_ref=who.id,
            created=created, modified=modified, relationship_type="targets",
            source_ref=inc.id, target_ref=addr.id)]  # fmt: skip
    return objects


def bundle(incidents: list[tuple[Any, list[str]]], *, organisation: str,
           appliance: str) -> stix2.Bundle:  # fmt: skip
    """One bundle of several (incident, evidence labels); shared objects appear once."""
    who = identity(organisation, appliance)
    seen: dict[str, Any] = {who.id: who}
    for incident, evidence in incidents:
        for obj in incident_objects(incident, who, appliance, evidence):
            seen.setdefault(obj.id, obj)
    return stix2.Bundle(objects=list(seen.values()), allow_custom=False)


def _evidence_labels(service: Service, incident_id: int) -> list[str]:
    detail = service.incidents.get(incident_id)  # type: ignore[attr-defined]
    return [f"{e.kind} {e.label} ({e.count}x)" for e in detail.evidence] if detail else []


def incident_bundle(service: Service, incident_id: int) -> stix2.Bundle:
    """One incident, with its evidence labels, as a bundle (KeyError if unknown)."""
    detail = service.incidents.get(incident_id)  # type: ignore[attr-defined]
    if detail is None:
        raise KeyError(incident_id)
    return bundle([(detail.incident, _evidence_labels(service, incident_id))],
                  organisation=service.cfg.core.report.organisation,
                  appliance=service.cfg.sensor.name)  # fmt: skip


def day_bundle(service: Service, day: dt.date) -> stix2.Bundle:
    """Every incident active on ``day`` (appliance-local) as one bundle."""
    from appliance.reports.data import day_bounds

    start, end = day_bounds(day, ZoneInfo(service.cfg.timezone))
    page = service.incidents.list(since_us=start, until_us=end, limit=10_000)  # type: ignore[attr-defined]
    return bundle([(i, _evidence_labels(service, i.id)) for i in page.items],
                  organisation=service.cfg.core.report.organisation,
                  appliance=service.cfg.sensor.name)  # fmt: skip
