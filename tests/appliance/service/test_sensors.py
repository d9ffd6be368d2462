"""Service.sensors: every sensor's health, local and remote, as the sensors page shows it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import appliance
from appliance.center.registry import EnrolmentError, SensorRegistry
from appliance.config import AppConfig
from appliance.service import Service
from appliance.store import open_store
from appliance.traffic.follow import catch_up
from tests.helpers.eve import make_runner, write_eve_file

NOW = int(time.time() * 1_000_000)
S = 1_000_000


@pytest.fixture
def service(tmp_path: Path):
    cfg = AppConfig.model_validate({"data_dir": str(tmp_path / "data")})
    svc = Service(cfg)
    yield svc
    svc.close()


def _remote(service: Service, name: str, *, approve: bool = True, **health: object) -> None:
    registry = SensorRegistry(service.state)
    registry.request(name, f"{name}-token-" + "x" * 32, address="192.0.2.9", max_pending=50)
    if approve:
        registry.approve(name, actor="admin")
        if health:
            sensor = registry.get(name)
            assert sensor is not None
            registry.record_contact(sensor.id, address="192.0.2.9", health=dict(health),
                                    records=10, duplicates=0)  # fmt: skip


def test_a_local_sensor_shows_its_records_packets_and_interfaces(
    service: Service, tmp_path: Path
) -> None:
    eve = tmp_path / "eve.json"
    write_eve_file(eve, 3000, seed=7)
    store = open_store(service.cfg.store_path)
    make_runner(eve, store, tmp_path / "sensor").run()
    catch_up(store)  # the packets and drops of the stats records: `spanwatch core` does it
    store.close()
    (local,) = service.sensors.list()
    assert (local.name, local.kind, local.status) == ("test-sensor", "local", "ok")
    assert local.events == 3000 and local.eve_rate == pytest.approx(3000 / 300)
    assert local.packets > 0 and local.drops == 0 and local.interfaces
    assert local.spanwatch_version == appliance.__version__
    assert local.last_contact is not None


def test_remote_sensors_are_judged_by_contact_buffer_and_version(service: Service) -> None:
    _remote(service, "site-ok", spanwatch_version=appliance.__version__, buffer_bytes=10,
            buffer_budget=1000, oldest_unshipped=None, suricata_version="7.0.10")
    _remote(service, "site-old", spanwatch_version="0.0.9", buffer_bytes=900, buffer_budget=1000,
            buffer_dropped=42)
    _remote(service, "site-new", approve=False)
    _remote(service, "site-silent")
    by_name = {s.name: s for s in service.sensors.list(now_us=NOW + 10 * S)}
    assert by_name["site-ok"].status == "ok" and by_name["site-ok"].suricata_version == "7.0.10"
    old = by_name["site-old"]
    assert old.status == "warn" and old.version_mismatch
    assert old.buffer_share == pytest.approx(0.9) and old.buffer_dropped == 42
    assert any("0.0.9" in note and "kept" in note for note in old.notes)
    assert len(old.notes_vi) == len(old.notes)
    assert by_name["site-new"].status == "pending" and by_name["site-new"].fingerprint
    assert by_name["site-silent"].status == "down"
    # An hour later nobody has been heard from.
    later = {s.name: s.status for s in service.sensors.list(now_us=NOW + 3600 * S)}
    assert later["site-ok"] == "down" and later["site-old"] == "down"


def test_the_lag_counts_the_oldest_unshipped_batch(service: Service) -> None:
    _remote(service, "site-a", spanwatch_version=appliance.__version__,
            oldest_unshipped=NOW - 600 * S)  # fmt: skip
    sensor = service.sensors.get("site-a", now_us=NOW + 5 * S)
    assert sensor is not None
    assert sensor.lag_seconds == pytest.approx(605, abs=5)
    assert sensor.status == "warn"


def test_approve_and_revoke_are_audited_and_check_the_fingerprint(service: Service) -> None:
    _remote(service, "site-a", approve=False)
    pending = SensorRegistry(service.state).get("site-a")
    assert pending is not None
    with pytest.raises(EnrolmentError, match="does not match"):
        service.sensors.approve("site-a", actor="admin", fingerprint="0000-0000-0000-0000")
    assert service.sensors.approve("site-a", actor="admin",
                                   fingerprint=pending.fingerprint).status == "approved"
    assert service.sensors.revoke("site-a", actor="admin").status == "revoked"
    with pytest.raises(EnrolmentError):
        service.sensors.revoke("no-such-sensor", actor="admin")
    actions = [e.action for e in service.audit.list().items]
    assert "sensors.approve" in actions and "sensors.revoke" in actions
