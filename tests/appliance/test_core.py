"""spanwatch-core: components start and stop in order, errors never stop the loop, SIGTERM
ends the daemon cleanly, web requests are executed, and its systemd unit is sound."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.config import load_config
from appliance.core import Core, Periodic, RequestWorker
from appliance.service import Service
from tests.helpers.cli import REPO, spanwatch_argv

UNIT = REPO / "systemd" / "spanwatch-core.service"


class Recorder:
    def __init__(self, name: str, log: list[str], fail_start: bool = False) -> None:
        self.name, self.log, self.fail_start = name, log, fail_start

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("cannot start")
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_components_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    core = Core([Recorder("a", log), Recorder("b", log)])
    core.stopping.set()
    core.run()
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_a_component_that_fails_to_start_stops_the_others() -> None:
    log: list[str] = []
    core = Core([Recorder("a", log), Recorder("b", log, fail_start=True), Recorder("c", log)])
    with pytest.raises(RuntimeError):
        core.start()
    assert log == ["start a", "stop a"]


def test_a_periodic_task_that_raises_keeps_running() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) % 2:
            raise OSError("transient")

    task = Periodic("flaky", 0.01, flaky)
    task.start()
    deadline = time.monotonic() + 5
    while len(calls) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    task.stop()
    assert len(calls) >= 6 and task.errors >= 3 and task.runs >= 3


@pytest.fixture
def service(appliance_config: Path) -> Any:
    svc = Service(load_config(appliance_config))
    yield svc
    svc.close()


def test_the_worker_executes_requests_and_records_outcomes(service: Service) -> None:
    def boom(_svc: Service, _params: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("bad bundle")

    handlers = {"echo": lambda _svc, params: {"got": params}, "boom": boom}
    ok = service.requests.submit("echo", {"x": 1}, actor="admin")
    bad = service.requests.submit("boom", actor="admin")
    unknown = service.requests.submit("nope", actor="admin")
    assert RequestWorker(service, handlers).run_once() == 3
    outcome = {i: service.requests.get(i) for i in (ok, bad, unknown)}
    assert outcome[ok].status == "done" and outcome[ok].result == {"got": {"x": 1}}  # type: ignore[union-attr]
    assert outcome[bad].status == "failed" and outcome[bad].error == "bad bundle"  # type: ignore[union-attr]
    assert outcome[unknown].status == "failed"  # type: ignore[union-attr]


@contextlib.contextmanager
def _core(config: Path) -> Iterator[subprocess.Popen[str]]:
    """``spanwatch core`` running; killed on the way out unless the test stopped it."""
    proc = subprocess.Popen(spanwatch_argv("core", "--config", config),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _stop(proc: subprocess.Popen[str]) -> str:
    """Stop ``spanwatch core`` with SIGTERM as systemd does; return its stderr."""
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    return err


def test_spanwatch_core_runs_requests_and_stops_on_sigterm(appliance_config: Path) -> None:
    cfg = load_config(appliance_config)
    svc = Service(cfg)
    rid = svc.requests.submit("no-such-thing", actor="admin")
    try:
        with _core(appliance_config) as proc:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                req = svc.requests.get(rid)
                if req is not None and req.status == "failed":
                    break
                time.sleep(0.2)
            assert svc.requests.get(rid).status == "failed"  # type: ignore[union-attr]
            proc.send_signal(signal.SIGHUP)  # components restart with the file read again
            again = svc.requests.submit("still-nothing", actor="admin")
            deadline = time.monotonic() + 60
            while svc.requests.get(again).status != "failed":  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.2)
            err = _stop(proc)
    finally:
        svc.close()
    assert proc.returncode == 0, err
    assert "spanwatch-core stopped." in err
    assert "Reloading the configuration on SIGHUP." in err


def test_spanwatch_core_rolls_up_the_traffic_a_sensor_stored(appliance_config: Path) -> None:
    from appliance.store import open_store
    from appliance.traffic.service import TrafficService
    from tests.appliance.traffic.test_follow import _flows

    store = open_store(load_config(appliance_config).store_path)
    source = store.source_id(b"eve", "eve.json")
    store.add_events(_flows(source, 25), "test-sensor")  # a sensor only stores them
    try:
        with _core(appliance_config) as proc:
            deadline = time.monotonic() + 60
            while TrafficService(store).totals(0, 1 << 62)["flows"] < 25:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            store.add_events(_flows(source, 5, first=25), "test-sensor")  # and keeps following
            while TrafficService(store).totals(0, 1 << 62)["flows"] < 30:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            err = _stop(proc)
    finally:
        store.close()
    assert proc.returncode == 0, err
    store = open_store(load_config(appliance_config).store_path, readonly=True)
    try:
        assert TrafficService(store).totals(0, 1 << 62)["flows"] == 30
    finally:
        store.close()


def unit_value(key: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"{key}=")
    ]


def test_the_core_unit_restarts_runs_unprivileged_and_joins_the_target() -> None:
    assert unit_value("Restart") == ["on-failure"]
    assert unit_value("User") == ["spanwatch"]
    assert unit_value("CapabilityBoundingSet") == [""]
    assert unit_value("PartOf") == unit_value("WantedBy") == ["spanwatch.target"]
    assert unit_value("ExecStart") == ["/opt/spanwatch/bin/spanwatch core"]
    assert "systemd/spanwatch-core.service" in (REPO / "Makefile").read_text()


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not installed (Debian package systemd; make deps)")
    root = tmp_path_factory.mktemp("root")
    system = next(
        d for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
        if (d / "sysinit.target").exists()
    )  # fmt: skip
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for name in ("spanwatch-core.service", "spanwatch.target"):
        shutil.copy(REPO / "systemd" / name, etc / name)
    stand_in = root / "opt/spanwatch/bin/spanwatch"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    return root


def test_the_core_unit_passes_systemd_analyze(unit_root: Path) -> None:
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--generators=no", f"--root={unit_root}",
         "spanwatch-core.service"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={unit_root}",
         "--threshold=30", "--no-pager", "spanwatch-core.service"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert security.returncode == 0, security.stdout[-2000:]
