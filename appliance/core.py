"""spanwatch-core: the one long-running process of a center besides the sensors.

It runs a list of components, each with ``start()`` and ``stop()``: the correlator
(incidents), the asset inventory and risk scores, the traffic rollups, the requests the
web UI submits (``Service.requests``), the job scheduler (reports, rules, retention,
health, STIX) and the ingest API of remote sensors. SIGTERM or SIGINT stops them in
reverse order, each finishing what it was doing, and the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from appliance.config import AppConfig

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

RequestHandler = Callable[["Service", dict[str, Any]], dict[str, Any]]


class Component(Protocol):
    """Something the core starts at startup and stops at shutdown."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Periodic:
    """Calls ``fn`` every ``interval`` seconds in its own thread until stopped.

    An exception is logged and counted and the next tick runs as usual: one bad batch
    never stops the correlator or the inventory.
    """

    def __init__(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        self.name = name
        self.interval = interval
        self.fn = fn
        self.runs = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def tick(self) -> None:
        """One call of ``fn``, errors logged."""
        try:
            self.fn()
            self.runs += 1
        except Exception:
            self.errors += 1
            logger.exception("Periodic task failed, will run again: component=%s.", self.name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.tick()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


class RequestWorker:
    """Executes what the web UI asked for (``Service.requests``) and records the outcome."""

    def __init__(self, service: Service, handlers: dict[str, RequestHandler]) -> None:
        self.service = service
        self.handlers = handlers

    def run_once(self) -> int:
        """Handle every pending request; returns how many were handled."""
        done = 0
        requests = self.service.requests
        while (req := requests.claim()) is not None:
            handler = self.handlers.get(req.kind)
            if handler is None:
                requests.fail(req.id, f"Unknown request kind {req.kind!r}.")
                logger.warning("Unknown request: id=%d kind=%s.", req.id, req.kind)
                done += 1
                continue
            try:
                requests.finish(req.id, handler(self.service, req.params))
                logger.info("Request done: id=%d kind=%s actor=%s.", req.id, req.kind, req.actor)
            except Exception as err:
                logger.exception("Request failed: id=%d kind=%s.", req.id, req.kind)
                requests.fail(req.id, str(err) or type(err).__name__)
            done += 1
        return done


class Core:
    """Starts components in order, waits for a stop signal, stops them in reverse."""

    def __init__(self, components: Sequence[Component]) -> None:
        self.components = list(components)
        self.stopping = threading.Event()
        self.reload = False
        self._started: list[Component] = []

    def start(self) -> None:
        """Start every component; if one fails, stop those already started and raise."""
        for component in self.components:
            try:
                component.start()
            except BaseException:
                logger.exception("Component failed to start: component=%s.", component.name)
                self.stop()
                raise
            self._started.append(component)
            logger.info("Started component=%s.", component.name)

    def stop(self) -> None:
        """Stop what was started, newest first; one that fails does not keep others up."""
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
                logger.info("Stopped component=%s.", component.name)
            except Exception:
                logger.exception("Component failed to stop: component=%s.", component.name)

    def run(self) -> None:
        """Start, block until :attr:`stopping` is set (SIGTERM/SIGINT), then stop."""
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask the core to stop cleanly; SIGHUP to reload its config."""
        self.reload = False

        def _stop(signum: int, _frame: object) -> None:
            logger.info("Stopping on signal %s.", signal.Signals(signum).name)
            self.stopping.set()

        def _reload(_signum: int, _frame: object) -> None:
            logger.info("Reloading the configuration on SIGHUP.")
            self.reload = True
            self.stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGHUP, _reload)


def request_handlers(scheduler: Any) -> dict[str, RequestHandler]:
    """What the web UI may ask the core to do."""
    from appliance.jobs.tasks import apply_rules, generate_report
    from appliance.suricata.rule_policy import preview_update

    return {
        "rules.apply": apply_rules,
        "rules.preview": preview_update,
        "report.generate": generate_report,
        "jobs.run": lambda _service, params: scheduler.run_now(str(params.get("job", ""))),
        "jobs.reload": lambda _service, _params: scheduler.reload(),
    }


def build_components(service: Service) -> list[Component]:
    """The core's components, in start order. Each area adds its own with one line."""
    from appliance.assets.inventory import Inventory
    from appliance.center import ingest_components
    from appliance.incidents.correlate import Correlator
    from appliance.jobs import JobScheduler
    from appliance.notify.watch import IncidentWatch
    from appliance.traffic.follow import StoreRollups

    cfg = service.cfg.core
    scheduler = JobScheduler(service)
    worker = RequestWorker(service, request_handlers(scheduler))
    components: list[Component] = [
        Periodic("requests", 1.0, worker.run_once),
        Periodic("correlator", cfg.correlate_seconds, Correlator(service).run_once),
        Periodic("inventory", cfg.inventory_seconds, Inventory(service).run_once),
        Periodic("rollups", cfg.rollup_seconds, StoreRollups(service.cfg.store_path).run_once),
        Periodic("risk", cfg.risk_seconds, service.risk.recompute),
        Periodic("alerts", 5.0, service.alerts.refresh),
        scheduler,
        Periodic("notify", 10.0, IncidentWatch(service).run_once),
        Periodic("traffic", 60.0, service.traffic.run_novelty),
        *ingest_components(service),  # the ingest API of remote sensors (E)
    ]
    return components


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """``spanwatch core``."""
    core = sub.add_parser("core", parents=[common], help="run spanwatch-core (the daemon)")
    core.set_defaults(handler=run_core)


def run_core(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Run until SIGTERM (exit 0 after a clean stop); SIGHUP restarts the components with
    the configuration read again (a bad file keeps the running one and is logged)."""
    from appliance.cli import config_from_args
    from appliance.errors import ConfigError
    from appliance.service import Service

    while True:
        service = Service(cfg)
        try:
            service.requests.requeue_interrupted()
            core = Core(build_components(service))
            core.install_signal_handlers()
            logger.info("spanwatch-core running: data_dir=%s.", cfg.data_dir)
            core.run()
        finally:
            service.close()
        if not core.reload:
            break
        try:
            cfg = config_from_args(args)
        except ConfigError as err:
            logger.error("Configuration not reloaded, keeping the running one: %s", err)
    logger.info("spanwatch-core stopped.")
    return 0
