"""Sensor health: each problem is recognised, recorded once as a finding, and recovers."""

from __future__ import annotations

import os
import time
from pathlib import Path

from appliance.config import load_config
from appliance.config_core import HealthConfig
from appliance.jobs.health import Observation, SensorSample, assess, check_health
from appliance.service import Service
from appliance.store import EventQuery

MIN = 60 * 1_000_000
NOW = 1_795_500_000_000_000
CFG = HealthConfig()


def samples(packets: list[int], drops: list[int] | None = None) -> list[SensorSample]:
    drops = drops or [0] * len(packets)
    step = CFG.silent_minutes * MIN // len(packets)
    return [SensorSample("s1", NOW - (len(packets) - 1 - i) * step, p, d)
            for i, (p, d) in enumerate(zip(packets, drops, strict=True))]  # fmt: skip


def checks(obs: Observation) -> set[str]:
    return {i.check for i in assess(obs, CFG, "s1")}


def test_a_sensor_whose_packet_counter_stands_still_is_silent() -> None:
    assert checks(Observation(NOW, samples([500, 500, 500]))) == {"silent"}
    assert checks(Observation(NOW, samples([500, 900, 1400]))) == set()
    # No stats at all from a sensor that should be capturing.
    assert checks(Observation(NOW, [])) == {"silent"}
    assert checks(Observation(NOW, [], expect_capture=False)) == set()


def test_capture_loss_above_the_threshold() -> None:
    lossy = assess(Observation(NOW, samples([0, 9000], [0, 1000])), CFG, "s1")
    assert [(i.check, i.evidence["drop_percent"]) for i in lossy] == [("drops", 10.0)]
    assert "bỏ sót 10.0%" in lossy[0].vi
    assert checks(Observation(NOW, samples([0, 100000], [0, 10]))) == set()


def test_clock_skew_suricata_down_and_stale_rules() -> None:
    ahead = [*samples([0, 1000]), SensorSample("s1", NOW + 10 * MIN, 2000, 0)]
    stale = NOW / 1e6 - 30 * 86400
    obs = Observation(NOW, ahead, ["/run/spanwatch/suricata-eth1.sock"], stale)
    assert checks(obs) == {"clock-skew", "suricata-down", "stale-rules"}


def test_new_issues_become_findings_once(appliance_config: Path) -> None:
    cfg = load_config(appliance_config, overrides={"interfaces": [{"name": "eth1"}]})
    service = Service(cfg)
    try:
        now = int(time.time() * 1e6)
        issues, new = check_health(service, now)
        assert [i.check for i in new] == ["silent"]
        again, new_again = check_health(service, now + MIN)
        assert [i.check for i in again] == ["silent"] and new_again == []
        found = list(service.store.events(EventQuery(event_type="finding")))
        assert len(found) == 1
        finding = found[0]["finding"]
        assert finding["category"] == "sensor-health" and finding["type"] == "sensor-silent"
        assert finding["explanation"]["vi"].startswith("Cảm biến test-sensor")
        # Rules installed, then aged: a second kind of issue appears (and is new).
        rules = cfg.rules_dir / "suricata.rules"
        rules.parent.mkdir(parents=True, exist_ok=True)
        rules.write_text("")
        os.utime(rules, (time.time() - 10 * 86400,) * 2)
        _, newer = check_health(service, now + 2 * MIN)
        assert [i.check for i in newer] == ["stale-rules"]
    finally:
        service.close()


def test_remote_sensors_down_or_warning_are_issues() -> None:
    from appliance.jobs.health import remote_issues
    from appliance.service.sensors import SensorHealth

    sensors = [
        SensorHealth("branch-1", "remote", "down", notes=["not heard from for more than 300 s"],
                     notes_vi=["không nhận được dữ liệu trong hơn 300 giây"]),
        SensorHealth("branch-2", "remote", "warn", notes=["capture drops 4.0%"],
                     notes_vi=["mất gói khi bắt 4.0%"]),
        SensorHealth("branch-3", "remote", "ok"),
        SensorHealth("local", "local", "down", notes=["x"], notes_vi=["x"]),
    ]  # fmt: skip
    issues = remote_issues(sensors)
    assert [(i.check, i.sensor, i.severity) for i in issues] == [
        ("silent", "branch-1", 1), ("remote-warning", "branch-2", 2)]
    assert issues[1].vi == "Cảm biến từ xa branch-2: mất gói khi bắt 4.0%."
