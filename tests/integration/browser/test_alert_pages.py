"""The alert pages in a real browser on the demo data: list, grouping, detail, triage."""

from __future__ import annotations

from tests.integration.browser.conftest import UI


def test_the_inbox_lists_the_demo_attacks(ui: UI) -> None:
    ui.login("analyst")
    ui.open("/alerts/")
    rows = ui.page.locator("#sw-alert-list tbody tr")
    assert rows.count() >= 12
    text = ui.page.inner_text("main")
    assert "SPANWATCH TEST HTTP request to /spanwatch-test" in text
    assert "Port scan" in text
    ui.shot("alerts-list")
    ui.open("/alerts/?view=groups")
    assert ui.page.locator("a.sw-group-title").count() >= 8
    ui.shot("alerts-groups")
    assert ui.errors == [] and ui.dialogs == []
