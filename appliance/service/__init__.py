"""The service interface: what the web UI, the reports and the CLI ask of the appliance.

One :class:`Service` per process holds the event store and the state database and hands
out one object per area (incidents, assets, risk, alerts, traffic, users, reports,
sensors). Callers never write SQL: everything they need is a method here, returning
plain dataclasses or dicts, so the storage behind it can change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from appliance.config import AppConfig
from appliance.state import StateDB, open_state
from appliance.store import EventStore, open_store

if TYPE_CHECKING:  # area services, imported lazily by their properties
    from appliance.assets.service import AssetService
    from appliance.audit import AuditService
    from appliance.incidents.service import IncidentService
    from appliance.jobs import JobSchedules
    from appliance.reports import ReportService
    from appliance.risk.service import RiskService
    from appliance.service.alerts import AlertService
    from appliance.service.requests import RequestService
    from appliance.service.rules import RuleService
    from appliance.service.sensors import SensorService
    from appliance.traffic.service import TrafficService
    from appliance.users import UserService

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a longer list: the items, and how many match in all."""

    items: list[T] = field(default_factory=list)
    total: int = 0
    offset: int = 0
    limit: int = 50


class Service:
    """The appliance's data, for one process. Thread-safe; open once, close at exit."""

    def __init__(self, cfg: AppConfig, *, readonly: bool = False) -> None:
        self.cfg = cfg
        self.readonly = readonly
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> EventStore:
        """The event store (created on first use unless read-only)."""
        with self._lock:
            return open_store(self.cfg.store_path, readonly=self.readonly)

    @cached_property
    def state(self) -> StateDB:
        """The state database (always writable: triage, users and audit live there)."""
        with self._lock:
            return open_state(self.cfg.state_path)

    @property
    def data_dir(self) -> Path:
        return self.cfg.data_dir

    # Areas: one cached property each, importing its module lazily, e.g.
    #
    #     @cached_property
    #     def incidents(self) -> IncidentService:
    #         from appliance.incidents.service import IncidentService
    #         return IncidentService(self)

    @cached_property
    def incidents(self) -> IncidentService:
        """Incidents: correlated stories, their lifecycle, suppressions (A1)."""
        from appliance.incidents.service import IncidentService

        return IncidentService(self)

    @cached_property
    def assets(self) -> AssetService:
        """The passive asset inventory: list, search, edit, CSV import/export (A2)."""
        from appliance.assets.service import AssetService

        return AssetService(self)

    @cached_property
    def risk(self) -> RiskService:
        """Risk scores per host and for the network, their factors and history (A2)."""
        from appliance.risk.service import RiskService

        return RiskService(self)

    @cached_property
    def requests(self) -> RequestService:
        """Requests from the web UI that spanwatch-core executes (e.g. "rules.apply")."""
        from appliance.service.requests import RequestService

        return RequestService(self.state)

    @cached_property
    def jobs(self) -> JobSchedules:
        """Job schedules (config default, admin override) and their run history."""
        from appliance.jobs import JobSchedules

        return JobSchedules(self)

    @cached_property
    def reports(self) -> ReportService:
        """Daily risk reports: make, store, list, download."""
        from appliance.reports import ReportService

        return ReportService(self)

    @cached_property
    def alerts(self) -> AlertService:
        """Alerts and findings: search, grouping, triage, dashboard counts (C2)."""
        from appliance.service.alerts import AlertService

        return AlertService(self)

    @cached_property
    def traffic(self) -> TrafficService:
        """Traffic rollups: throughput, tops, hosts, flow search, capture health (B)."""
        from appliance.traffic.service import open_traffic

        return open_traffic(self.store, self.cfg, writable=not self.readonly)

    @cached_property
    def rules(self) -> RuleService:
        """Rule search, enable/disable, thresholds, sources, apply requests (C3)."""
        from appliance.service.rules import RuleService

        return RuleService(self)

    @cached_property
    def users(self) -> UserService:
        """Web users, roles, login lockout and API tokens (C1)."""
        from appliance.users import UserService

        return UserService(self.state)

    @cached_property
    def sensors(self) -> SensorService:
        """Every sensor's health and the enrolment of remote sensors (E)."""
        from appliance.service.sensors import SensorService

        return SensorService(self)

    @cached_property
    def audit(self) -> AuditService:
        """The audit log of every admin and analyst action (C1)."""
        from appliance.audit import AuditService

        return AuditService(self.state)

    def close(self) -> None:
        """Close what was opened."""
        for name in ("store", "state"):
            opened = self.__dict__.pop(name, None)
            if opened is not None:
                opened.close()
