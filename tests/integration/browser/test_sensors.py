"""The sensors page in Chromium: the demo's local sensor beside remote sites, approval."""

from __future__ import annotations

import appliance
from appliance.center.registry import SensorRegistry
from appliance.config import load_config
from appliance.service import Service
from tests.integration.browser.conftest import UI
from tests.webui.conftest import LiveServer


def _seed(server: LiveServer) -> None:
    service = Service(load_config(server.config_path))
    try:
        registry = SensorRegistry(service.state)
        for name, version in (("dmz-core", appliance.__version__), ("agency-office", "0.0.9")):
            registry.request(name, f"{name}-token-" + "x" * 32, address="198.51.100.20",
                             max_pending=50)  # fmt: skip
            sensor = registry.approve(name, actor="seed")
            registry.record_contact(sensor.id, address="198.51.100.20", records=1200,
                                    duplicates=0, health={
                "spanwatch_version": version, "suricata_version": "7.0.10",
                "buffer_bytes": 64 * 1024**2, "buffer_budget": 2 * 1024**3,
                "rule_count": 15003, "rules_updated_at": sensor.requested_at,
            })  # fmt: skip
        registry.request("new-site", "new-site-token-" + "x" * 32, address="203.0.113.9",
                         max_pending=50)  # fmt: skip
    finally:
        service.close()


def test_admin_sees_every_sensor_and_approves_a_new_site(ui: UI, demo_server: LiveServer) -> None:
    _seed(demo_server)
    ui.login("admin")
    ui.open("/sensors/")
    rows = ui.page.locator("tr.sw-sensor")
    names = {rows.nth(i).get_attribute("data-sensor") for i in range(rows.count())}
    assert {"dmz-core", "agency-office", "new-site"} <= names
    assert ui.page.locator("#sw-enrolments").is_visible()
    office = ui.page.locator("tr[data-sensor=agency-office]").inner_text()
    assert "differs from the center" in office and "data kept" in office
    assert "203.0.113.9" in ui.page.locator("#sw-enrolments").inner_text()
    ui.shot("sensors")
    ui.click_through(ui.page.locator("#sw-enrolments button[type=submit]").first)
    assert "new-site approved" in ui.page.content()
    assert not ui.page.locator("#sw-enrolments").count()
    ui.shot("sensors-approved")
    assert ui.errors == []
