"""Asset criticality for incident severity, from the asset inventory (A2) when present."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.incidents.group import Group
    from appliance.service import Service

logger = logging.getLogger(__name__)

ORDER = ("critical", "high", "normal", "low")
#: Asset criticality changes by hand and rarely: looked up again after this long.
TTL_S = 60.0


class Criticality:
    """The most valuable victim's criticality per incident, cached for a minute."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._known: dict[str, str] = {}
        self._at = 0.0

    def of(self, groups: Iterable[Group]) -> dict[int, str]:
        """Group id → criticality ("normal" when unknown or without an inventory)."""
        assets = _assets_of(self.service)
        if assets is None:
            return {}
        groups = list(groups)
        if time.monotonic() - self._at > TTL_S:
            self._known, self._at = {}, time.monotonic()
        known = self._known
        victims = {ip for g in groups for ip in g.listed("victim")} - known.keys()
        if victims:
            try:
                found = _lookup(self.service, assets, sorted(victims))
            except Exception:  # the asset area is another team's; never lose a batch to it
                logger.exception("Asset criticality lookup failed; using normal.")
                return {}
            known.update({ip: found.get(ip, "normal") for ip in victims})
        out = {}
        for g in groups:
            levels = [known.get(ip, "normal") for ip in g.listed("victim")] or ["normal"]
            out[g.id] = min(levels, key=lambda c: ORDER.index(c) if c in ORDER else 2)
        return out


def _assets_of(service: Service) -> Any:
    if "assets" not in dir(type(service)):
        return None
    try:
        return service.assets  # type: ignore[attr-defined]
    except (AttributeError, ImportError):
        return None


def _lookup(service: Service, assets: Any, ips: list[str]) -> dict[str, str]:
    """Criticality per known asset: the asset service's bulk lookup when it has one, else
    one query of its table in the state database (a missing table means no inventory)."""
    bulk = getattr(assets, "criticalities", None)
    if callable(bulk):
        return dict(bulk(ips))
    out: dict[str, str] = {}
    try:
        for start in range(0, len(ips), 500):
            part = ips[start : start + 500]
            rows = service.state.query(
                f"SELECT ip, criticality FROM assets WHERE ip IN ({','.join('?' * len(part))}) "
                f"AND criticality != 'normal'", tuple(part))  # fmt: skip
            out.update({str(r[0]): str(r[1]) for r in rows})
    except sqlite3.Error:
        return {}
    return out
