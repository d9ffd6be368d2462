"""The reports pages in a real browser on the demo data: the list, a stored report opened
in the browser (its own script-free policy), and the scheduled jobs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from appliance.config import load_config
from appliance.service import Service
from tests.integration.browser.conftest import UI


def _make_reports(ui: UI) -> dict[str, int]:
    service = Service(load_config(ui.server.config_path))
    try:
        newest = service.store.stats().newest_us
        assert newest is not None
        day = dt.datetime.fromtimestamp(newest / 1e6, ZoneInfo(service.cfg.timezone)).date()
        return {r.format: r.id for r in service.reports.generate(day, lang="en")}
    finally:
        service.close()


def test_reports_list_view_and_jobs(ui: UI) -> None:
    ids = _make_reports(ui)
    ui.login("admin")
    ui.open("/reports/")
    assert ui.page.locator("#sw-reports tbody tr").count() == 2
    ui.shot("reports")
    ui.open(f"/reports/{ids['html']}")
    text = ui.page.inner_text("body")
    assert "Network security risk report" in text and "Recommended actions" in text
    # The report's inline styles apply under its own policy (no CSP violation, no script).
    colour = ui.page.eval_on_selector("h2", "e => getComputedStyle(e).color")
    assert colour == "rgb(30, 58, 138)"
    ui.shot("report-html")
    ui.open("/reports/jobs")
    assert ui.page.locator("#sw-jobs tbody tr").count() == 5
    ui.page.fill("#sw-jobs tr:first-child input[name=crontab]", "15 7 * * *")
    ui.click_through("#sw-jobs tr:first-child button[value=save]")
    assert ui.page.locator("#sw-jobs tr:first-child input[name=crontab]").input_value() == \
        "15 7 * * *"  # fmt: skip
    ui.shot("report-jobs")
    assert ui.errors == [] and ui.dialogs == []
