"""What an admin and an analyst do on the first day, in Chromium, on the demo data:
create the administrator, log in, read the dashboard, switch language, triage an alert
into an incident, download the evidence pcap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.demo_store import write_config
from tests.integration.browser.conftest import UI
from tests.webui.conftest import LiveServer, start_web_server


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_web_server(write_config(tmp_path / "fresh"), create_users=False)
    yield server
    server.stop()


def test_first_run_creates_the_administrator(browser: Any, fresh_server: LiveServer,
                                              tmp_path: Path) -> None:  # fmt: skip
    ui = UI(browser, fresh_server, tmp_path)
    try:
        ui.open("/")
        assert ui.page.url.endswith("/setup")
        ui.page.click("a[href*='/language/en']")
        code = (fresh_server.data_dir / "web" / "setup-code").read_text().strip()
        ui.page.fill("input[name=setup_code]", "WRONG-CODE")
        ui.page.fill("input[name=username]", "chief")
        ui.page.fill("input[name=full_name]", "Nguyễn Văn An")
        ui.page.fill("input[name=password]", "Long-Enough-Pass-1")
        ui.page.fill("input[name=confirm]", "Long-Enough-Pass-1")
        ui.page.click("button[type=submit]")
        assert "Wrong setup code" in ui.page.inner_text("body")
        ui.page.fill("input[name=setup_code]", code)
        ui.page.fill("input[name=password]", "Long-Enough-Pass-1")
        ui.page.fill("input[name=confirm]", "Long-Enough-Pass-1")
        ui.shot("first-run-setup")
        ui.click_through("button[type=submit]")
        assert "/setup" not in ui.page.url and "/login" not in ui.page.url
        assert "chief" in ui.page.inner_text("nav")
        assert not (fresh_server.data_dir / "web" / "setup-code").exists()
        # Setup is closed once the administrator exists.
        ui.open("/setup")
        assert "/setup" not in ui.page.url
        assert ui.errors == [] and ui.dialogs == []
    finally:
        ui.close()


def test_login_and_switching_language(browser: Any, demo_server: LiveServer,
                                      tmp_path: Path) -> None:  # fmt: skip
    ui = UI(browser, demo_server, tmp_path, lang="vi")
    try:
        ui.open("/dashboard/")
        assert "/login" in ui.page.url
        assert ui.page.locator("html").get_attribute("lang") == "vi"
        ui.shot("login")
        ui.login("analyst")
        ui.open("/dashboard/")
        nav = ui.page.inner_text("nav")
        assert "Cảnh báo" in nav and "Tổng quan" in nav
        ui.shot("dashboard-vi")
        ui.click_through("a[href*='/language/en']")
        assert ui.page.url.endswith("/dashboard/")
        assert "Alerts" in ui.page.inner_text("nav")
        assert "Top signatures" in ui.page.inner_text("main")
        ui.open("/alerts/")
        ui.click_through("a[href*='/language/vi']")
        assert "Hộp thư" in ui.page.inner_text("main")
        ui.shot("alerts-vi")
        assert ui.errors == [] and ui.dialogs == []
    finally:
        ui.close()


def _open_alert(ui: UI, sid: int) -> int:
    ui.open(f"/alerts/?sid={sid}&status=all")
    link = ui.page.locator("a.sw-alert-link").first
    href = link.get_attribute("href") or ""
    ui.click_through(link)
    match = re.match(r"^/alerts/(\d+)", href)
    assert match, href
    return int(match.group(1))


def test_evidence_pcap_download(ui: UI) -> None:
    ui.login("analyst")
    event_id = _open_alert(ui, 9000001)
    ui.shot("alert-detail")
    with ui.page.expect_download() as info:
        ui.page.click("#sw-evidence")
    download = info.value
    assert download.suggested_filename == f"spanwatch-event-{event_id}.pcap"
    saved = ui.out / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    from scapy.layers.inet import IP, TCP
    from scapy.utils import PcapReader

    with PcapReader(str(saved)) as reader:
        packets = [p for p in reader]
    assert len(packets) >= 6
    assert {(p[IP].src, p[IP].dst) for p in packets} == {("10.10.20.105", "10.10.1.10"),
                                                        ("10.10.1.10", "10.10.20.105")}
    assert any(b"/spanwatch-test" in bytes(p[TCP].payload) for p in packets)
    ui.click_through("#sw-packets")
    assert "/packets" in ui.page.url and "spanwatch-test" in ui.page.inner_text("main")
    ui.shot("alert-packets")
    assert ui.errors == [] and ui.dialogs == []


def test_triage_an_alert_into_an_incident(ui: UI) -> None:
    ui.login("analyst")
    event_id = _open_alert(ui, 9000040)
    ui.page.fill("#sw-incident-title", "Web server answered `id` as root")
    ui.click_through("#sw-escalate")
    body = ui.page.inner_text("main")
    match = re.search(r"Escalated to incident (\d+)", body)
    assert match, body[:500]
    assert "escalate" in ui.page.inner_text(".list-group")
    ui.shot("alert-escalated")
    incident_id = int(match.group(1))
    ui.open("/alerts/?status=escalated")
    assert str(event_id) in ui.page.content()
    ui.click_through(ui.page.locator(f"a[href$='/incidents/{incident_id}']").first)
    assert ui.page.url.endswith(f"/incidents/{incident_id}")
    assert "Web server answered `id` as root" in ui.page.inner_text("main")
    _comment_on_incident(ui, "Checked with the web team: the CGI is gone.")
    assert ui.errors == [] and ui.dialogs == []


def _comment_on_incident(ui: UI, text: str) -> None:
    box = ui.page.locator("textarea[name=text], textarea[name=comment]").first
    box.fill(text)
    ui.click_through(box.locator("xpath=ancestor::form").locator("button[type=submit]").first)
    assert text in ui.page.inner_text("main")
    ui.shot("incident-commented")


def test_admin_changes_a_setting(ui: UI) -> None:
    config = ui.server.config_path
    ui.login("admin")
    ui.open("/settings/")
    home = ui.page.locator("#s-home")
    before = home.input_value()
    form = home.locator("xpath=ancestor::form")
    home.fill(before + "\n10.0.0.300/8")
    ui.click_through(form.locator("button[type=submit]"))
    assert "10.0.0.300/8" in ui.page.inner_text("main")  # the error names the bad value
    assert "10.0.0.300" not in config.read_text()
    ui.page.locator("#s-home").fill(before + "\n172.20.0.0/16")
    ui.click_through(ui.page.locator("#s-home").locator("xpath=ancestor::form").locator(
        "button[type=submit]"))
    assert "172.20.0.0/16" in config.read_text()
    assert "172.20.0.0/16" in ui.page.locator("#s-home").input_value()
    ui.shot("settings-saved")
    assert ui.errors == [] and ui.dialogs == []
