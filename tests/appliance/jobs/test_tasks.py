"""The jobs end to end: the morning report reaches a mailbox as a PDF that renders; a rule
bundle that fails suricata -T is rejected while the running rules stay, a good one is
live after reload on a real Suricata; retention keeps its forecast."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from appliance.config import AppConfig, load_config
from appliance.errors import RulesError
from appliance.jobs import tasks
from appliance.runs import LOCK_NAME
from appliance.service import Service
from appliance.store import EventQuery
from appliance.suricata import command, render
from appliance.suricata.control import SuricataControl
from tests.helpers.cli import REPO
from tests.helpers.smtp import PASSWORD, USER, smtp_server

GOOD = 'alert http any any -> any any (msg:"T {sid}"; content:"x{sid}"; sid:{sid}; rev:1;)\n'
BROKEN = 'alert tcp any any -> any any (msg:"broken"; contnt:"a"; sid:9099990; rev:1;)\n'
# 2026-11-24 07:00 in Ho Chi Minh City: the report job's fire time.
FIRED = 1_795_996_800_000_000 - 3 * 86400 * 1_000_000


def service_with(appliance_config: Path, **overrides: Any) -> Service:
    return Service(load_config(appliance_config, overrides=overrides))


def test_the_morning_report_arrives_as_a_pdf_that_renders(
    appliance_config: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    with smtp_server(tmp_path) as inbox:
        service = service_with(appliance_config, **{
            "core.notify.email": {"enabled": True, "host": "127.0.0.1", "port": inbox.port,
                                  "username": USER, "password_file": str(secret),
                                  "ca_file": str(inbox.cert)},
            "core.report.recipients": ["giamdoc@example.com"],
        })  # fmt: skip
        try:
            summary = tasks.daily_report(service, FIRED)
            stored = service.reports.list().items
        finally:
            service.close()
    assert "e-mailed to 1 recipient" in summary
    (msg,) = inbox.messages
    assert msg["Subject"].startswith("[spanwatch] Báo cáo rủi ro ngày")
    (pdf,) = list(msg.iter_attachments())
    path = tmp_path / str(pdf.get_filename())
    path.write_bytes(pdf.get_content())
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / "page")],
                   check=True, timeout=60)  # fmt: skip
    assert len(list(tmp_path.glob("page-*.png"))) >= 1
    assert {r.format for r in stored} == {"html", "pdf"}
    assert stored[0].day == tasks.local_day_before(service, FIRED).isoformat()


def test_retention_keeps_the_days_left_forecast(appliance_config: Path) -> None:
    service = service_with(appliance_config)
    # A killed analysis's run folder (its lock file there, held by no one) goes too.
    killed = service.cfg.data_dir / "runs" / "20261124T070000"
    killed.mkdir(parents=True)
    (killed / LOCK_NAME).touch()
    try:
        summary = tasks.enforce_retention(service, FIRED)
        forecast = tasks.retention_forecast(service)
    finally:
        service.close()
    assert not killed.exists()
    assert "alerts:" in summary
    assert {"alerts", "metadata"} <= set(forecast)
    assert all("days_left" in usage for usage in forecast.values())


def rules_service(appliance_config: Path, run_dir: Path, local: list[Path],
                  suricata_bin: str) -> Service:  # fmt: skip
    return service_with(appliance_config, **{
        "rules": {"local": [str(p) for p in local], "sources": []},
        "suricata": {"binary": suricata_bin, "run_dir": str(run_dir)},
    })  # fmt: skip


@contextmanager
def running_suricata(cfg: AppConfig, rule_file: Path) -> Iterator[SuricataControl]:
    """Suricata in unix-socket mode with its socket where the core looks for it."""
    work = Path(tempfile.mkdtemp(prefix="swj-", dir="/tmp"))
    sock = cfg.suricata.run_dir / "suricata-test0.sock"
    config = render.write_suricata_config(work / "s.yaml", cfg, log_dir=work,
                                          rule_files=[rule_file])  # fmt: skip
    argv = command.unix_socket_argv(cfg.suricata.binary, config, sock, work)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with SuricataControl(sock, timeout=30) as control:
            yield control
            control.shutdown()
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.suricata
def test_a_bad_bundle_is_rejected_and_a_good_one_goes_live(
    appliance_config: Path, tmp_path: Path, suricata_bin: str
) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="swr-", dir="/tmp"))
    extra = tmp_path / "extra.rules"
    extra.write_text(GOOD.format(sid=9099001))
    service = rules_service(appliance_config, run_dir,
                            [REPO / "config" / "rules" / "local.rules", extra], suricata_bin)
    try:
        first = tasks.update_rules(service, FIRED)
        active = service.cfg.rules_dir / "suricata.rules"
        with running_suricata(service.cfg, active) as control:
            before_stats = control.ruleset_stats()[0]["rules_loaded"]
            before = active.read_bytes()
            broken = tmp_path / "broken.rules"
            broken.write_text(BROKEN)
            with pytest.raises(RulesError):
                tasks.update_rules(service, FIRED, offline=[broken])
            assert active.read_bytes() == before
            assert control.ruleset_stats()[0]["rules_loaded"] == before_stats
            found = list(service.store.events(EventQuery(event_type="finding")))
            assert [f["finding"]["type"] for f in found] == ["sensor-rule-update"]
            good = tmp_path / "more.rules"
            good.write_text(GOOD.format(sid=9099002) + GOOD.format(sid=9099003))
            message = tasks.update_rules(service, FIRED, offline=[good])
            assert "1 engine(s) reloaded" in message
            assert control.ruleset_stats()[0]["rules_loaded"] == before_stats + 2
    finally:
        service.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    assert "rules active" in first
