"""The rules page's policy applied by the core: suricata-update, suricata -T, last good."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from appliance.config import AppConfig
from appliance.errors import RulesError
from appliance.service import Service
from appliance.suricata import command, render
from appliance.suricata.control import SuricataControl
from appliance.suricata.rule_policy import (
    THRESHOLD_NAME,
    PolicyRuleManager,
    RulePolicy,
    Threshold,
    apply_rule_changes,
    preview_update,
)
from appliance.suricata.rule_text import read_rules
from tests.appliance.service.test_rules import make_cfg
from tests.helpers.cli import run_spanwatch


def _active(service: Service) -> dict[int, bool]:
    path = service.cfg.rules_dir / "suricata.rules"
    return {r.sid: r.enabled for r in read_rules(path)}


def test_threshold_lines() -> None:
    assert Threshold("suppress", 5).line() == "suppress gen_id 1, sig_id 5"
    line = Threshold("suppress", 5, track="by_dst", ip="2001:db8::/32").line()
    assert line == "suppress gen_id 1, sig_id 5, track by_dst, ip 2001:db8::/32"
    t = Threshold("threshold", 7, type="both", track="by_both", count=10, seconds=600)
    assert (
        t.line() == "threshold gen_id 1, sig_id 7, type both, track by_both, count 10, seconds 600"
    )
    for bad in [
        Threshold("suppress", 0),
        Threshold("rate_filter", 5),
        Threshold("threshold", 5, type="limit", track="by_src", count=0, seconds=5),
    ]:
        with pytest.raises(ValueError):
            bad.line()


def test_apply_switches_rules_and_installs_thresholds(tmp_path: Path, suricata_bin: str) -> None:
    service = Service(make_cfg(tmp_path, suricata_bin))
    try:
        rules = service.rules
        rules.set_enabled([2100010], False, actor="alice", reason="false positives")
        rules.set_enabled([2100002], True, actor="alice", reason="SMB sweeps matter here")
        rules.add_threshold("suppress", 2100001, actor="alice", reason="our scanner",
                            track="by_src", ip="10.1.2.3")  # fmt: skip
        diff = rules.preview()
        assert 2100002 in [r.sid for r in diff.added] and 2100010 not in diff.as_json()["added"]
        assert diff.thresholds_changed
        result = apply_rule_changes(service, {})
        assert result["changed"] and result["rule_count"] > 300  # with Suricata's own rules
        active = _active(service)
        assert active[2100010] is False and active[2100002] is True and active[2100001] is True
        assert active[9000001] is True  # our local rules stay
        threshold = (service.cfg.rules_dir / THRESHOLD_NAME).read_text()
        assert "suppress gen_id 1, sig_id 2100001, track by_src, ip 10.1.2.3" in threshold
        # The index now knows what runs: nothing is pending, the preview is empty.
        assert rules.counts()["pending"] == 0
        assert rules.preview().as_json() == {
            "added": [], "removed": [], "changed": [], "thresholds_changed": False,
        }  # fmt: skip
        assert rules.last_apply()["ok"] is True  # type: ignore[index]
        # The sensor's Suricata configuration loads the thresholds.
        conf = render.render_suricata_config(
            service.cfg, log_dir=tmp_path / "log", rule_files=[service.cfg.rules_dir / "x"]
        )
        assert yaml.safe_load(conf.split("---\n", 1)[1])["threshold-file"].endswith(THRESHOLD_NAME)
    finally:
        service.close()


def test_a_ruleset_failing_suricata_test_keeps_the_last_good(
    tmp_path: Path, suricata_bin: str
) -> None:
    service = Service(make_cfg(tmp_path, suricata_bin))
    try:
        apply_rule_changes(service, {})
        before = (service.cfg.rules_dir / "suricata.rules").read_bytes()
        broken = tmp_path / "et" / "emerging-broken.rules"
        broken.write_text('alert tcp any any -> any any (msg:"broken"; contnt:"a"; sid:9099990;)\n')
        service.rules.set_enabled([2100011], False, actor="bob", reason="x")
        with pytest.raises(RulesError, match="suricata -T"):
            apply_rule_changes(service, {})
        assert (service.cfg.rules_dir / "suricata.rules").read_bytes() == before
        last = service.rules.last_apply()
        assert last is not None and last["ok"] is False and "suricata -T" in last["message"]
    finally:
        service.close()


def test_thresholds_are_tested_before_install(tmp_path: Path, suricata_bin: str) -> None:
    service = Service(make_cfg(tmp_path, suricata_bin))
    try:
        policy = RulePolicy(thresholds=(Threshold("suppress", 2100001),))
        PolicyRuleManager(service.cfg, service.cfg.rules_dir, policy).update()
        text = (service.cfg.rules_dir / THRESHOLD_NAME).read_text()
        assert "suppress gen_id 1, sig_id 2100001" in text

        # A threshold.config Suricata refuses (written past the validator): not installed.
        class Broken(PolicyRuleManager):
            def _build(self, plan, work):  # type: ignore[no-untyped-def]
                out = super()._build(plan, work)
                (work / THRESHOLD_NAME).write_text("suppress gen_id 1, sig_id x\n")
                return out

        with pytest.raises(RulesError, match="suricata -T"):
            Broken(service.cfg, service.cfg.rules_dir, policy).update()
        assert (service.cfg.rules_dir / THRESHOLD_NAME).read_text() == text
    finally:
        service.close()


@contextmanager
def _running_suricata(cfg: AppConfig, run_dir: Path) -> Iterator[SuricataControl]:
    """Suricata (unix-socket mode) on the active ruleset, its socket where the core looks."""
    log_dir, sock = run_dir / "log", run_dir / "suricata-test.sock"
    config = render.write_suricata_config(
        run_dir / "s.yaml", cfg, log_dir=log_dir, rule_files=[cfg.rules_dir / "suricata.rules"]
    )
    argv = command.unix_socket_argv(cfg.suricata.binary, config, sock, log_dir)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with SuricataControl(sock, timeout=60) as control:
            yield control
            control.shutdown()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_applied_changes_are_live_after_the_reload(tmp_path: Path, suricata_bin: str) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    base = make_cfg(tmp_path, suricata_bin)
    cfg = base.model_copy(
        update={"suricata": base.suricata.model_copy(update={"run_dir": run_dir})}
    )
    service = Service(cfg)
    try:
        first = apply_rule_changes(service, {})
        with _running_suricata(cfg, run_dir) as control:
            (before,) = control.ruleset_stats()
            assert before["rules_loaded"] == first["rule_count"]
            service.rules.set_enabled([2100010, 2100011], False, actor="ops", reason="noise")
            service.rules.add_threshold(
                "threshold", 2100001, actor="ops", reason="one a minute",
                type="limit", track="by_src", count=1, seconds=60,
            )  # fmt: skip
            result = apply_rule_changes(service, {})
            assert result["reloaded"] == 1
            (after,) = control.ruleset_stats()
        assert after["rules_loaded"] == before["rules_loaded"] - 2 == result["rule_count"]
        assert after["rules_failed"] == 0
    finally:
        service.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_spanwatch_rules_update_keeps_what_the_rules_page_decided(
    tmp_path: Path, suricata_bin: str
) -> None:
    cfg = make_cfg(tmp_path, suricata_bin)
    config = tmp_path / "appliance.yaml"
    data = cfg.model_dump(mode="json", include={"data_dir", "rules", "suricata"})
    config.write_text(yaml.safe_dump(data))
    service = Service(cfg)
    try:
        service.rules.set_enabled([2100010], False, actor="alice", reason="false positives")
        service.rules.add_threshold("suppress", 2100001, actor="alice", reason="our scanner")
    finally:
        service.close()
    done = run_spanwatch("rules", "update", "--config", config, "--no-reload")
    assert done.returncode == 0, done.stderr
    service = Service(cfg)
    try:
        assert _active(service)[2100010] is False and _active(service)[2100011] is True
    finally:
        service.close()
    assert "sig_id 2100001" in (cfg.rules_dir / THRESHOLD_NAME).read_text()


def test_checking_the_sources_lists_what_an_update_would_change(
    tmp_path: Path, suricata_bin: str
) -> None:
    service = Service(make_cfg(tmp_path, suricata_bin))
    try:
        apply_rule_changes(service, {})
        active = (service.cfg.rules_dir / "suricata.rules").read_bytes()
        # The source changes behind our back (a new download would look the same).
        scan = tmp_path / "et" / "emerging-scan.rules"
        vnc = 'alert tcp any any -> any 5900 (msg:"ET SCAN VNC"; sid:2100099; rev:1;)\n'
        text = scan.read_text().replace("sid:2100001; rev:3;", "sid:2100001; rev:4;")
        scan.write_text(text + vnc)
        service.rules.set_enabled([2100011], False, actor="ops", reason="noise")
        summary = preview_update(service, {})
        assert summary["added"] == 1 and summary["removed"] == 1 and summary["changed"] == 1
        checked = service.rules.last_preview()
        assert checked is not None and checked["ok"]
        assert (checked["added"], checked["removed"], checked["changed"]) == (
            [2100099], [2100011], [2100001])  # fmt: skip
        # Nothing was installed.
        assert (service.cfg.rules_dir / "suricata.rules").read_bytes() == active
    finally:
        service.close()
