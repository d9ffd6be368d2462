"""MISP JSON exports: the network and file attributes of events.

Accepted shapes: one ``{"Event": {...}}``, a list of them, or the ``{"response": [...]}``
of the REST API. Attributes come from the event and from its objects. Composite types
(``domain|ip``, ``filename|sha256``, ``ip-dst|port``) give the parts spanwatch can
match. Attributes with ``to_ids: false`` are context, not detection material, by MISP's
own convention, and deleted ones are gone: both are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: MISP attribute type -> our type for each ``|``-separated part (None: not matched).
_TYPES: dict[str, tuple[str | None, ...]] = {
    "ip-src": ("ip",), "ip-dst": ("ip",),
    "ip-src|port": ("ip", None), "ip-dst|port": ("ip", None),
    "domain": ("domain",), "hostname": ("domain",),
    "domain|ip": ("domain", "ip"), "hostname|port": ("domain", None),
    "url": ("url",),
    "md5": ("md5",), "sha1": ("sha1",), "sha256": ("sha256",),
    "filename|md5": (None, "md5"), "filename|sha1": (None, "sha1"),
    "filename|sha256": (None, "sha256"),
    "ja3-fingerprint-md5": ("ja3",),
}  # fmt: skip


@dataclass(frozen=True)
class MispAttribute:
    """One attribute: what to match, or why it is skipped."""

    uuid: str
    values: tuple[tuple[str, str], ...]
    ref: str
    skipped: str | None = None
    error: str | None = None


def misp_attributes(data: Any) -> Iterator[MispAttribute]:
    """The attributes of every event in a MISP export."""
    for event in _events(data):
        ref = f"MISP event {event.get('id') or event.get('uuid') or '?'}: {event.get('info', '')}"
        attributes = list(_list(event.get("Attribute")))
        for obj in _list(event.get("Object")):
            if isinstance(obj, dict):
                attributes += _list(obj.get("Attribute"))
        for attr in attributes:
            if isinstance(attr, dict):
                yield _attribute(attr, ref.strip())


def _events(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict) and "response" in data:
        data = data["response"]
    items = data if isinstance(data, list) else [data]
    events = [item["Event"] for item in items if isinstance(item, dict) and "Event" in item]
    if not events or not all(isinstance(e, dict) for e in events):
        raise ValueError('not a MISP export (no "Event" object)')
    return events


def _attribute(attr: dict[str, Any], ref: str) -> MispAttribute:
    uuid = str(attr.get("uuid") or "")
    kind = str(attr.get("type") or "")
    parts_types = _TYPES.get(kind)
    if parts_types is None:
        return MispAttribute(uuid, (), ref, skipped=f"unsupported-type:{kind or '?'}")
    if attr.get("deleted") in (True, "1", 1):
        return MispAttribute(uuid, (), ref, skipped="deleted")
    if attr.get("to_ids") in (False, "0", 0):
        return MispAttribute(uuid, (), ref, skipped="not-for-detection")
    value = attr.get("value")
    if not isinstance(value, str):
        return MispAttribute(uuid, (), ref, error=f"{kind} value is not a string")
    parts = value.split("|") if len(parts_types) > 1 else [value]
    if len(parts) != len(parts_types):
        error = f"{kind} value {value!r} needs {len(parts_types)} parts"
        return MispAttribute(uuid, (), ref, error=error)
    values = tuple((t, p) for t, p in zip(parts_types, parts, strict=True) if t is not None)
    return MispAttribute(uuid, values, ref)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
