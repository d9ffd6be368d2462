"""Analyzers: sans-IO detectors over batches of EVE records that emit findings.

An analyzer implements ``init()``, ``process(records) -> findings`` and ``shutdown()``;
the runner owns the loop. Every call goes through :class:`AnalyzerSet`, which logs and
counts an analyzer's exception and carries on, so one faulty analyzer cannot stop ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import import_module
from typing import Protocol

from appliance.config import AppConfig
from appliance.events import EveRecord

logger = logging.getLogger(__name__)


class Analyzer(Protocol):
    """A detector over EVE records; findings are serialized EVE ``finding`` records."""

    name: str
    #: Event types the analyzer wants; empty means all.
    event_types: frozenset[str]

    def init(self) -> None: ...

    def process(self, records: Sequence[EveRecord]) -> list[bytes]: ...

    def shutdown(self) -> list[bytes]: ...


class AnalyzerSet:
    """Runs analyzers safely: an exception is logged with the analyzer's name and counted."""

    #: Whether a batch's findings come later: :meth:`submit` it, then :meth:`collect`
    #: them (analyzers in a process of their own); else :meth:`process` gives them.
    deferred = False

    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self.analyzers = list(analyzers)
        self.errors: dict[str, int] = {}
        self._submitted: list[bytes] = []

    def submit(self, records: Sequence[EveRecord]) -> None:
        """Hand a batch over (here: analyze it at once)."""
        self._submitted = self.process(records)

    def collect(self) -> list[bytes]:
        """The findings of the batch handed over last."""
        found, self._submitted = self._submitted, []
        return found

    def init(self) -> None:
        """Initialise every analyzer; a failure here is fatal (a broken setup is a bug)."""
        for analyzer in self.analyzers:
            analyzer.init()

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings of every analyzer for this batch."""
        findings: list[bytes] = []
        # Analyzers that want the same event types get the same list (filtered once).
        batches: dict[frozenset[str], list[EveRecord]] = {}
        for analyzer in self.analyzers:
            wanted = analyzer.event_types
            batch: Sequence[EveRecord] | None = batches.get(wanted) if wanted else records
            if batch is None:
                batch = batches[wanted] = [r for r in records if r.head.event_type in wanted]
            if batch:
                findings.extend(self._call(analyzer, "process", batch))
        return findings

    def shutdown(self) -> list[bytes]:
        """Findings the analyzers still hold (e.g. open time windows)."""
        findings: list[bytes] = []
        for analyzer in self.analyzers:
            findings.extend(self._call(analyzer, "shutdown"))
        return findings

    def _call(self, analyzer: Analyzer, method: str, *args: object) -> list[bytes]:
        try:
            return list(getattr(analyzer, method)(*args))
        except Exception:
            logger.exception("Analyzer failed: analyzer=%s method=%s.", analyzer.name, method)
            self.errors[analyzer.name] = self.errors.get(analyzer.name, 0) + 1
            return []


#: Every EVE analyzer: the name of its section in ``analyzers:`` of the configuration
#: -> (module, class). The class takes that section (which has ``enabled``) as argument.
REGISTRY: dict[str, tuple[str, str]] = {
    "capture_loss": ("sensors.analyzers.capture_loss", "CaptureLossAnalyzer"),
    "tls": ("sensors.analyzers.tls", "TlsHygieneAnalyzer"),
    "malware_file": ("sensors.analyzers.malware_file", "MalwareFileAnalyzer"),
    "threat_intel": ("sensors.analyzers.threat_intel", "ThreatIntelAnalyzer"),
    "scan": ("sensors.analyzers.scan", "ScanAnalyzer"),
    "flood": ("sensors.analyzers.flood", "FloodAnalyzer"),
    "exfiltration": ("sensors.analyzers.exfiltration", "ExfiltrationAnalyzer"),
    "beacon": ("sensors.analyzers.beacon", "BeaconAnalyzer"),
    "dns_tunnel": ("sensors.analyzers.dns_tunnel", "DnsTunnelAnalyzer"),
    "covert_channel": ("sensors.analyzers.covert_channel", "CovertChannelAnalyzer"),
    "brute_force": ("sensors.analyzers.brute_force", "BruteForceAnalyzer"),
    "cleartext": ("sensors.analyzers.cleartext", "CleartextCredentialsAnalyzer"),
    "web_attack": ("sensors.analyzers.web_attack", "WebAttackAnalyzer"),
    "lateral_movement": ("sensors.analyzers.lateral_movement", "LateralMovementAnalyzer"),
    "stealth_scan": ("sensors.analyzers.stealth_scan", "StealthScanAnalyzer"),
    "suspicious_http": ("sensors.analyzers.suspicious_http", "SuspiciousHttpAnalyzer"),
    "quic": ("sensors.analyzers.quic", "QuicAnalyzer"),
}


def load_analyzers(cfg: AppConfig) -> AnalyzerSet:
    """The analyzers enabled in the configuration."""
    analyzers: list[Analyzer] = []
    for name, (module, cls) in REGISTRY.items():
        section = getattr(cfg.analyzers, name)
        if section.enabled:
            factory = getattr(import_module(module), cls)
            # An analyzer that reads Suricata's output files (e.g. extracted files) says
            # so, and is told the data directory they are under.
            if getattr(factory, "needs_data_dir", False):
                analyzers.append(factory(section, data_dir=cfg.data_dir))
            elif getattr(factory, "needs_intel", False):  # the feeds of ``intel:``
                analyzers.append(factory(section, intel=cfg.intel))
            elif getattr(factory, "needs_networks", False):  # HOME_NET: inside vs outside
                analyzers.append(factory(section, networks=cfg.networks))
            else:
                analyzers.append(factory(section))
    return AnalyzerSet(analyzers)
