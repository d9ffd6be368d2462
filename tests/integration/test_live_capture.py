"""The live sensor end to end on a simulated SPAN port built from network namespaces.

Three namespaces: a client (10.99.0.1) and a server (10.99.0.2) joined by a veth pair,
and a sensor namespace whose ``span0`` receives a copy of every frame the server's
interface sends or receives (tc ``mirred egress mirror``), as a switch's SPAN port would.
The real ``spanwatch sensor`` (and, for ``--attach``, a separately started unprivileged
Suricata) captures on ``span0``; the client fetches ``/spanwatch-test`` from the server,
and the test signature (sid 9000001) must reach the store within seconds.

Nothing here touches the machine's own interfaces: every link is created inside the
namespaces, which are deleted (with everything running in them) even when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.config import AppConfig, load_config
from appliance.store import EventQuery, open_store
from appliance.suricata import command, render
from tests.helpers.cli import REPO, run_spanwatch, spanwatch_argv

pytestmark = [pytest.mark.netns, pytest.mark.suricata, pytest.mark.slow]

TEST_SID = 9000001
TEST_PATH = "/spanwatch-test"
PROBE_PATH = "/spanwatch-probe"  # matches no rule: proves the capture path is live
CLIENT_IP, SERVER_IP, PORT = "10.99.0.1", "10.99.0.2", 8000
SPAN_IF = "span0"
NOBODY = 65534
# Suricata's own "ready" line; after it the capture threads are up.
ENGINE_STARTED = "Engine started"
ALERT_BUDGET_S = 10.0
FLOW_BUDGET_S = 30.0
STARTUP_TIMEOUT_S = 90.0
PROBE_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 45.0
_TEST_RULE = (
    'alert http any any -> any any (msg:"SPANWATCH TEST HTTP request to /spanwatch-test"; '
    'flow:established,to_server; http.uri; content:"/spanwatch-test"; startswith; '
    "classtype:not-suspicious; sid:9000001; rev:1;)\n"
)


# -- the lab: namespaces, mirror, HTTP server ----------------------------------------------


def in_netns(ns: str, *argv: str | os.PathLike[str]) -> list[str]:
    """argv that runs ``argv`` inside network namespace ``ns`` (``ip netns exec`` execs it)."""
    return ["ip", "netns", "exec", ns, *map(str, argv)]


def _run(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")


@dataclass
class SpanLab:
    """Client, server and sensor namespaces; ``span0`` in the sensor mirrors the server link."""

    tag: str
    root: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def client(self) -> str:
        return f"swc-{self.tag}"

    @property
    def server(self) -> str:
        return f"sws-{self.tag}"

    @property
    def sensor(self) -> str:
        return f"swn-{self.tag}"

    def build(self) -> None:
        """Create the namespaces, the two veth pairs and the mirror."""
        for ns in (self.client, self.server, self.sensor):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        # Both ends of each pair are created directly inside the namespaces.
        _run("ip", "link", "add", "c0", "netns", self.client,
             "type", "veth", "peer", "name", "s0", "netns", self.server)  # fmt: skip
        _run("ip", "link", "add", "m0", "netns", self.server,
             "type", "veth", "peer", "name", SPAN_IF, "netns", self.sensor)  # fmt: skip
        _run("ip", "-n", self.client, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
        _run("ip", "-n", self.server, "addr", "add", f"{SERVER_IP}/24", "dev", "s0")
        for ns, dev in ((self.client, "c0"), (self.server, "s0"), (self.server, "m0"),
                        (self.sensor, SPAN_IF)):  # fmt: skip
            _run("ip", "-n", ns, "link", "set", dev, "up")
        _run("tc", "-n", self.server, "qdisc", "add", "dev", "s0", "clsact")
        for direction in ("ingress", "egress"):
            self._mirror("s0", direction, "m0")

    def _mirror(self, dev: str, direction: str, to: str) -> None:
        """Copy every frame crossing ``dev`` in ``direction`` out of ``to``."""
        action = ["action", "mirred", "egress", "mirror", "dev", to]
        base = ["tc", "-n", self.server, "filter", "add", "dev", dev, direction]
        try:
            _run(*base, "matchall", *action)
        except RuntimeError:
            # Kernels built without cls_matchall: a u32 filter matching every frame.
            _run(*base, "protocol", "all", "u32", "match", "u32", "0", "0", *action)

    def spawn(self, argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a process whose output goes to ``log``; torn down with the lab."""
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        self.procs.append(proc)
        return proc

    def start_http_server(self) -> None:
        """``python -m http.server`` on the server, answering ``/spanwatch-test``."""
        www = self.root / "www"
        www.mkdir()
        (www / TEST_PATH.lstrip("/")).write_text("spanwatch test page\n")
        (www / PROBE_PATH.lstrip("/")).write_text("probe\n")
        argv = in_netns(self.server, sys.executable, "-m", "http.server", str(PORT),
                        "--bind", SERVER_IP, "--directory", www)  # fmt: skip
        self.spawn(argv, self.root / "http-server.log")
        wait_for(lambda: self.fetch("/") == 200, 15, "the HTTP server in the server namespace")

    def fetch(self, path: str) -> int | None:
        """GET ``path`` from the client namespace; the HTTP status, or None if it failed."""
        code = (
            "import sys, urllib.request\n"
            "try:\n"
            f"    r = urllib.request.urlopen('http://{SERVER_IP}:{PORT}{path}', timeout=3)\n"
            "    print(r.status); r.read()\n"
            "except Exception as e:\n"
            "    print(getattr(e, 'code', 0))\n"
        )
        proc = subprocess.run(in_netns(self.client, sys.executable, "-c", code),
                              capture_output=True, text=True, timeout=20)  # fmt: skip
        out = proc.stdout.strip()
        return int(out) if out.isdigit() and int(out) else None

    def teardown(self) -> None:
        """Stop what the test started, then everything left in the namespaces; delete them."""
        for proc in reversed(self.procs):
            stop_process(proc, timeout=15)
        for ns in (self.sensor, self.server, self.client):
            self._kill_namespace_pids(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)

    def _kill_namespace_pids(self, ns: str) -> None:
        listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        pids = [int(p) for p in listed.stdout.split() if p.isdigit()]
        for pid in pids:  # only processes this test started inside its own namespace
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 10, "cleanup",
                 fail=False)  # fmt: skip


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_for(
    ready: Callable[[], Any], timeout: float, what: str, *, fail: bool = True, interval: float = 0.1
) -> Any:
    """Poll ``ready()`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            if fail:
                pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")
            return None
        time.sleep(interval)


@pytest.fixture
def lab_dir() -> Iterator[Path]:
    """A short, world-traversable temp dir: unix socket paths stay under 108 bytes, and the
    unprivileged Suricata of the attach test can reach its files."""
    root = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def span_lab(lab_dir: Path) -> Iterator[SpanLab]:
    """The namespaces, mirror and HTTP server; always deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} (iproute2) is not installed")
    lab = SpanLab(tag=secrets.token_hex(4), root=lab_dir)
    try:
        lab.build()
        lab.start_http_server()
        yield lab
    finally:
        lab.teardown()


# -- the appliance under test ---------------------------------------------------------------


def rules_with_test_signature(root: Path) -> Path:
    """The project's local.rules if it carries the test signature; else a file that does."""
    local = REPO / "config" / "rules" / "local.rules"
    if local.is_file() and f"sid:{TEST_SID};" in local.read_text(encoding="utf-8"):
        return local
    path = root / "test.rules"
    path.write_text(_TEST_RULE, encoding="utf-8")
    return path


def write_appliance_config(root: Path) -> Path:
    """A tmp appliance.yaml; Suricata settings stay at their shipped defaults."""
    data = {
        "sensor": {"name": "span-lab"},
        "networks": {"home": ["10.99.0.0/24"]},
        "interfaces": [{"name": SPAN_IF}],
        "data_dir": str(root / "data"),
        "suricata": {"run_dir": str(root / "run")},
        "rules": {"local": [str(rules_with_test_signature(root))], "sources": []},
    }
    path = root / "appliance.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def load(config: Path) -> AppConfig:
    """The configuration as the sensor subprocess sees it (same environment)."""
    return load_config(config)


def wait_engine_started(cfg: AppConfig, proc: subprocess.Popen[bytes]) -> float:
    """Wait for Suricata's "Engine started"; seconds it took."""
    log = cfg.sensor_dir(SPAN_IF) / render.SURICATA_LOG
    start = time.monotonic()

    def started() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode} before Suricata started")
        return log.is_file() and ENGINE_STARTED in log.read_text(errors="replace")

    wait_for(started, STARTUP_TIMEOUT_S, f"{ENGINE_STARTED!r} in {log}", interval=0.05)
    return time.monotonic() - start


def stored(cfg: AppConfig, query: EventQuery) -> list[dict[str, Any]]:
    """Events in the store matching ``query`` (a fresh read-only connection each time)."""
    if not cfg.store_path.exists():
        return []
    store = open_store(cfg.store_path, readonly=True)
    try:
        return list(store.events(query))
    finally:
        store.close()


def http_events(cfg: AppConfig, url: str) -> list[dict[str, Any]]:
    return [e for e in stored(cfg, EventQuery(event_type="http"))
            if e.get("http", {}).get("url") == url]  # fmt: skip


def diagnose(lab: SpanLab, cfg: AppConfig) -> str:
    """What to look at when the alert does not arrive: counters, logs, offload hint."""
    parts = []
    sock = cfg.suricata.run_dir / f"suricata-{SPAN_IF}.sock"
    try:
        from appliance.suricata.control import SuricataControl

        with SuricataControl(sock, timeout=5) as ctl:
            parts.append(f"iface-stat {SPAN_IF}: {ctl.command('iface-stat', iface=SPAN_IF)}")
    except Exception as err:  # diagnostics only
        parts.append(f"iface-stat unavailable: {err!r}")
    parts.append(
        f"checksum_checks={cfg.suricata.checksum_checks}: veth traffic carries unfilled "
        "(CHECKSUM_PARTIAL) TCP checksums; AF_PACKET flags them TP_STATUS_CSUMNOTREADY, "
        "which Suricata honours in checksum-checks kernel/yes mode but not in auto."
    )
    for log in sorted(lab.root.glob("*.log")) + [cfg.sensor_dir(SPAN_IF) / render.SURICATA_LOG]:
        if log.is_file():
            tail = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
    return "\n".join(parts)


def probe_capture(lab: SpanLab, cfg: AppConfig) -> float:
    """Fetch a page no rule matches until its http record is stored; seconds it took."""
    start = time.monotonic()
    deadline = start + PROBE_TIMEOUT_S
    while time.monotonic() < deadline:
        assert lab.fetch(PROBE_PATH) == 200
        # A few polls per fetch: the first frames may precede the capture socket's bind.
        if wait_for(lambda: http_events(cfg, PROBE_PATH), 3, "probe", fail=False):
            return time.monotonic() - start
    pytest.fail(f"No http record for {PROBE_PATH} after {PROBE_TIMEOUT_S:.0f} s: the sensor "
                f"sees no sessions on {SPAN_IF}.\n{diagnose(lab, cfg)}")  # fmt: skip


def request_and_expect_alert(lab: SpanLab, cfg: AppConfig) -> tuple[int, dict[str, float]]:
    """GET /spanwatch-test; its alert and http record must reach the store within budget.

    Returns the alert's flow_id and the seconds from the request to each record.
    """
    sent = time.monotonic()
    assert lab.fetch(TEST_PATH) == 200
    alerts = wait_for(lambda: stored(cfg, EventQuery(event_type="alert", sid=TEST_SID)),
                      ALERT_BUDGET_S, f"sid {TEST_SID} in the store", fail=False)  # fmt: skip
    if not alerts:
        pytest.fail(f"No alert sid {TEST_SID} within {ALERT_BUDGET_S:.0f} s.\n{diagnose(lab, cfg)}")
    timings = {"alert_s": time.monotonic() - sent}
    (alert,) = alerts
    assert alert["alert"]["signature"] == "SPANWATCH TEST HTTP request to /spanwatch-test"
    assert (alert["src_ip"], alert["dest_ip"], alert["dest_port"]) == (CLIENT_IP, SERVER_IP, PORT)
    https = wait_for(lambda: http_events(cfg, TEST_PATH), ALERT_BUDGET_S - timings["alert_s"],
                     "the http record of the test request")  # fmt: skip
    timings["http_s"] = time.monotonic() - sent
    assert [e["flow_id"] for e in https] == [alert["flow_id"]]
    return alert["flow_id"], timings


def flow_records(cfg: AppConfig, flow_id: int) -> list[dict[str, Any]]:
    """The flow record(s) of one session, as stored."""
    return stored(cfg, EventQuery(event_type="flow", flow_id=flow_id))


def assert_flow_alerted(flows: list[dict[str, Any]]) -> None:
    assert len(flows) == 1, flows
    assert flows[0]["flow"]["alerted"] is True
    assert flows[0]["app_proto"] == "http"


def assert_stats_report_the_alert(config: Path) -> None:
    """``spanwatch stats --json`` shows what the sensor stored."""
    proc = run_spanwatch("stats", "--json", "--config", config, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["alerts_by_sid"].get(str(TEST_SID), 0) >= 1
    assert {"alert", "http", "flow"} <= set(stats["events_by_type"])


def assert_every_eve_line_stored(cfg: AppConfig) -> None:
    """After a clean stop, the store holds every record Suricata wrote, down to its last."""
    eve = cfg.sensor_dir(SPAN_IF) / render.EVE_FILENAME
    written = Counter(json.loads(line)["event_type"] for line in eve.read_text().splitlines())
    store = open_store(cfg.store_path, readonly=True)
    try:
        kept = store.stats().events_by_type
    finally:
        store.close()
    assert {t: kept.get(t, 0) for t in written} == dict(written)


def report(request: pytest.FixtureRequest, timings: dict[str, float]) -> None:
    for name, value in timings.items():
        request.node.user_properties.append((name, round(value, 2)))
    print(" ".join(f"{k}={v:.2f}s" for k, v in timings.items()))


# -- tests ------------------------------------------------------------------------------


@dataclass
class RunningSensor:
    """``spanwatch sensor`` in the sensor namespace, with the Suricata it started."""

    config: Path
    cfg: AppConfig
    proc: subprocess.Popen[bytes]
    suricata_pid: int
    engine_start_s: float


def start_sensor(lab: SpanLab) -> RunningSensor:
    """Start the sensor on the SPAN interface; return once its engine has started."""
    config = write_appliance_config(lab.root)
    cfg = load(config)
    argv = in_netns(lab.sensor, *spanwatch_argv(
        "sensor", "--interface", SPAN_IF, "--config", config, "--data-dir", cfg.data_dir
    ))  # fmt: skip
    sensor = lab.spawn(argv, lab.root / "sensor.log")
    started = wait_engine_started(cfg, sensor)
    pidfile = cfg.sensor_dir(SPAN_IF) / "suricata.pid"
    pid = int(wait_for(lambda: pidfile.is_file() and pidfile.read_text().strip(),
                       10, "Suricata's pid file"))  # fmt: skip
    return RunningSensor(config, cfg, sensor, pid, started)


def test_sensor_runs_suricata_on_span_port_and_stores_alert(
    span_lab: SpanLab, suricata_bin: str, request: pytest.FixtureRequest
) -> None:
    t0 = time.monotonic()
    running = start_sensor(span_lab)
    config, cfg, sensor = running.config, running.cfg, running.proc
    suricata_pid = running.suricata_pid
    timings = {"engine_start_s": running.engine_start_s}
    timings["probe_s"] = probe_capture(span_lab, cfg)
    flow_id, more = request_and_expect_alert(span_lab, cfg)
    timings.update(more)
    stopped = time.monotonic()
    assert stop_process(sensor, STOP_TIMEOUT_S) == 0, diagnose(span_lab, cfg)
    timings["stop_s"], timings["total_s"] = time.monotonic() - stopped, time.monotonic() - t0
    assert not Path(f"/proc/{suricata_pid}").exists(), "Suricata outlived its sensor"
    assert ip_netns_pids(span_lab.sensor) == [], "processes left in the sensor namespace"
    # The session is still in Suricata's flow table (TCP closed timeout); on SIGTERM
    # Suricata logs it, and the sensor reads EVE to its end before exiting.
    assert_flow_alerted(flow_records(cfg, flow_id))
    assert_every_eve_line_stored(cfg)
    assert_stats_report_the_alert(config)
    report(request, timings)


def test_a_sensor_killed_outright_takes_its_suricata_with_it(
    span_lab: SpanLab, suricata_bin: str
) -> None:
    # Left running, an orphan Suricata would keep capturing on the interface, splitting
    # its packets with the one the restarted sensor starts (the same fanout group).
    running = start_sensor(span_lab)
    running.proc.kill()
    running.proc.wait()
    wait_for(lambda: not Path(f"/proc/{running.suricata_pid}").exists(), 10,
             "Suricata to end with its sensor")  # fmt: skip


def ip_netns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def unit_like(ns: str, argv: list[str]) -> list[str]:
    """``argv`` as spanwatch-suricata@.service runs it: an unprivileged user holding only
    CAP_NET_RAW and CAP_NET_ADMIN (ambient), no new privileges."""
    caps = "+net_raw,+net_admin"
    return in_netns(ns, "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    f"--inh-caps=-all,{caps}", f"--ambient-caps={caps}",
                    f"--bounding-set=-all,{caps}", "--no-new-privs", *argv)  # fmt: skip


def start_unit_like_suricata(lab: SpanLab, cfg: AppConfig, binary: str) -> subprocess.Popen[bytes]:
    """Render and test the config as ``ExecStartPre`` would, then run Suricata unprivileged."""
    from sensors.live import prepare_suricata

    config = prepare_suricata(cfg, SPAN_IF)
    out_dir, run_dir = cfg.sensor_dir(SPAN_IF), cfg.suricata.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in [run_dir, out_dir, *out_dir.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    argv = command.live_argv(binary, config, SPAN_IF, out_dir, run_dir / f"suricata-{SPAN_IF}.pid")
    # The rendered TCP closed-flow timeout is the stock 60 s; a shorter one lets the test
    # see the alerting session's flow record without waiting a minute.
    argv += ["--set", "flow-timeouts.tcp.closed=5"]
    return lab.spawn(unit_like(lab.sensor, argv), lab.root / "suricata-unit.log")


def test_attached_sensor_ingests_separately_run_suricata(
    span_lab: SpanLab, suricata_bin: str, request: pytest.FixtureRequest
) -> None:
    config = write_appliance_config(span_lab.root)
    cfg = load(config)
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run Suricata as the unit does")
    suricata = start_unit_like_suricata(span_lab, cfg, suricata_bin)
    timings = {"engine_start_s": wait_engine_started(cfg, suricata)}
    engine_log = (cfg.sensor_dir(SPAN_IF) / render.SURICATA_LOG).read_text(errors="replace")
    problems = [line for line in engine_log.splitlines()
                if "Error:" in line or "not permitted" in line]  # fmt: skip
    assert problems == [], "Suricata lacks a privilege it needs:\n" + "\n".join(problems)
    # The attached sensor only reads files: it needs no namespace and no capability.
    sensor = span_lab.spawn(
        spanwatch_argv("sensor", "--attach", "--interface", SPAN_IF, "--config", config),
        span_lab.root / "sensor.log",
    )
    timings["probe_s"] = probe_capture(span_lab, cfg)
    flow_id, more = request_and_expect_alert(span_lab, cfg)
    timings.update(more)
    # Suricata keeps running here: it logs the flow once it times out (closed: 5 s here).
    waited = time.monotonic()
    assert_flow_alerted(wait_for(lambda: flow_records(cfg, flow_id), FLOW_BUDGET_S,
                                 "the flow record of the alerting session"))  # fmt: skip
    timings["flow_wait_s"] = time.monotonic() - waited
    assert stop_process(sensor, STOP_TIMEOUT_S) == 0, diagnose(span_lab, cfg)
    assert suricata.poll() is None, "stopping an attached sensor must not stop Suricata"
    assert stop_process(suricata, STOP_TIMEOUT_S) == 0
    assert_stats_report_the_alert(config)
    report(request, timings)
