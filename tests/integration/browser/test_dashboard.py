"""The dashboard in a real browser on the demo data."""

from __future__ import annotations

from tests.integration.browser.conftest import UI


def test_dashboard_shows_risk_activity_and_tops(ui: UI) -> None:
    ui.login("viewer")
    ui.open("/dashboard/")
    page = ui.page
    # The demo capture is from 2025: the window moves to its newest alert.
    assert page.locator(".alert-info").count() == 1
    assert page.locator("canvas[data-chart='#chart-activity']").count() == 1
    # Chart.js drew into the canvas (it sizes it and marks it).
    page.wait_for_function("() => !!document.querySelector('canvas[data-chart]') && "
                           "window.Chart && Chart.getChart(document.querySelector('canvas'))")
    text = page.inner_text("main")
    assert "SPANWATCH" in text and "Port scan" in text and "203.0.113.66" in text
    assert page.locator("#sw-risk-card .sw-stat-value").inner_text().split()[0].isdigit()
    ui.shot("dashboard")
    assert ui.errors == [] and ui.dialogs == []
