"""The rules pages in Chromium: search ET Open as you type, disable a rule, ask to apply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.config import load_config
from appliance.service import Service
from tests.helpers.demo_store import write_config
from tests.integration.browser.conftest import UI
from tests.webui.conftest import LiveServer, start_web_server


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("browser-rules")
    config = write_config(folder)
    text = config.read_text().replace(
        "sources: []",
        f"sources: [{{name: et/open, path: {testdata / 'rules' / 'et-open'}}}]",
    )
    config.write_text(text)
    cfg = load_config(config)
    # The running ruleset: our local rules (as if applied before); ET Open is a source.
    cfg.rules_dir.mkdir(parents=True, exist_ok=True)
    (cfg.rules_dir / "suricata.rules").write_bytes(cfg.rules.local[0].read_bytes())
    service = Service(cfg)
    try:
        service.rules.reindex()  # what the first page view would otherwise do
    finally:
        service.close()
    server = start_web_server(config)
    yield server
    server.stop()


@pytest.fixture
def rules_ui(browser: Any, rules_server: LiveServer, tmp_path: Path) -> Iterator[UI]:
    view = UI(browser, rules_server, tmp_path)
    yield view
    view.close()


def test_admin_searches_and_disables_a_rule(rules_ui: UI, rules_server: LiveServer) -> None:
    ui = rules_ui
    ui.login("admin")
    ui.open("/rules/")
    page = ui.page
    assert page.locator("#sw-rule-results tbody tr").count() == 50
    page.fill("#sw-rule-q", "telnet cleartext")
    page.wait_for_selector("#sw-rule-results tr[data-sid='9000010']")
    assert page.locator("#sw-rule-results tbody tr").count() == 1
    assert "q=telnet" in page.url  # the search is in the address bar, shareable
    ui.shot("rules-search")
    row = page.locator("tr[data-sid='9000010']")
    assert row.locator(".sw-rule-state").inner_text() == "enabled"
    with page.expect_navigation():
        row.locator("button.sw-rule-toggle").click()
    ui.settle()
    assert "1 rule(s) changed" in page.locator(".alert-success").inner_text()
    row = page.locator("tr[data-sid='9000010']")  # the search is kept after the switch
    assert row.locator(".sw-rule-state").inner_text() == "disabled"
    assert "to apply" in row.inner_text()
    ui.open("/rules/apply")
    assert "9000010" in page.locator(".sw-diff-list").nth(1).inner_text()
    with page.expect_navigation():
        page.click("#sw-rules-apply button")
    ui.settle()
    assert page.locator("td .sw-status-pending").count() == 1
    ui.shot("rules-apply")
    assert ui.errors == [] and ui.dialogs == ["confirm: Update and load the rules now?"]
    service = Service(load_config(rules_server.config_path))
    try:
        assert service.rules.policy().disable_sids == (9000010,)
        assert [r.kind for r in service.requests.list()] == ["rules.apply"]
    finally:
        service.close()


def test_rule_pages_look_right(rules_ui: UI) -> None:
    ui = rules_ui
    ui.login("admin")
    pages = [("/rules/categories", "rules-categories"), ("/rules/thresholds", "rules-thresholds"),
             ("/rules/sources", "rules-sources"), ("/rules/2019401", "rules-detail")]  # fmt: skip
    for path, name in pages:
        response = ui.open(path)
        assert response is not None and response.status == 200, path
        ui.shot(name)
    ui.open("/rules/thresholds")
    ui.page.select_option("#sw-t-kind", "threshold")
    assert ui.page.locator("#sw-t-count").is_visible()
    assert not ui.page.locator("#sw-t-ip").is_visible()
    assert ui.errors == []
