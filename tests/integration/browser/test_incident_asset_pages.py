"""Incidents and assets in Chromium on the demo data: triage an incident, read a host."""

from __future__ import annotations

from tests.integration.browser.conftest import UI


def test_analyst_works_an_incident(ui: UI) -> None:
    ui.login("analyst")
    ui.open("/incidents/")
    page = ui.page
    links = page.locator("a.sw-incident-link")
    assert links.count() >= 1, "the demo capture opens incidents"
    ui.shot("incidents-list")
    with page.expect_navigation():
        links.first.click()
    ui.settle()
    assert page.locator(".sw-stage-step").count() >= 1
    page.select_option("#sw-inc-assignee", "analyst1")
    with page.expect_navigation():
        page.click("#sw-inc-assign button")
    ui.settle()
    page.select_option("#sw-inc-status-select", "investigating")
    with page.expect_navigation():
        page.click("#sw-inc-status button")
    ui.settle()
    page.fill("#sw-inc-comment textarea", "Blocked the source at the firewall.")
    with page.expect_navigation():
        page.click("#sw-inc-comment button")
    ui.settle()
    assert "Blocked the source at the firewall." in page.locator(".sw-timeline").inner_text()
    assert "analyst1" in page.locator(".sw-timeline").inner_text()
    ui.shot("incident-detail")
    assert ui.errors == []


def test_admin_reads_and_edits_a_host(ui: UI) -> None:
    ui.login("admin")
    ui.open("/assets/")
    page = ui.page
    assert page.locator("a.sw-asset-link").count() >= 2
    ui.shot("assets-list")
    with page.expect_navigation():
        page.locator("a.sw-asset-link").first.click()
    ui.settle()
    page.select_option("#sw-a-crit", "critical")
    page.fill("#sw-a-owner", "Phòng CNTT")
    with page.expect_navigation():
        page.click("#sw-asset-edit button")
    ui.settle()
    assert page.locator("#sw-a-owner").input_value() == "Phòng CNTT"
    ui.shot("asset-host")
    assert ui.errors == []


def test_pages_in_vietnamese(browser: object, demo_server: object, tmp_path: object) -> None:
    view = UI(browser, demo_server, tmp_path, lang="vi")  # type: ignore[arg-type]
    try:
        view.login("viewer")
        for path, name in [("/incidents/", "incidents-list-vi"), ("/assets/", "assets-list-vi"),
                           ("/rules/", "rules-search-vi")]:  # fmt: skip
            response = view.open(path)
            assert response is not None and response.status == 200
            assert view.page.locator("html[lang=vi]").count() == 1
            view.shot(name)
        assert "Sự cố" in view.page.content() or "Nguồn luật" in view.page.content()
        assert view.errors == []
    finally:
        view.close()
