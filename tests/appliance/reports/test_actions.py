"""Recommended actions follow from the data: the urgent first, three to five of them."""

from __future__ import annotations

from appliance.reports.actions import recommend
from tests.helpers.report_data import busy_day, quiet_day


def test_a_busy_day_gets_five_actions_worst_first() -> None:
    actions = recommend(busy_day())
    assert len(actions) == 5
    assert actions[0][1].startswith("Investigate the 3 open high/critical incident(s)")
    assert actions[1][1].startswith("Review host 10.10.1.20 (risk 81)")


def test_noisy_signatures_new_devices_and_short_storage_are_named() -> None:
    data = busy_day()
    data.incidents, data.open_by_severity, data.top_hosts = [], {}, []
    data.sensors = [s for s in data.sensors if s.status == "ok"]
    data.rules_age_days = 1.0
    english = [en for _vi, en in recommend(data)]
    assert english[0].startswith("Review the noisy signature “ET SCAN Suspicious inbound")
    assert english[1] == "Confirm the 2 new device(s) seen and assign an owner."
    assert english[2].startswith("Storage for metadata lasts about 11 days")


def test_a_quiet_day_says_nothing_urgent() -> None:
    assert recommend(quiet_day()) == [(
        "Không cần hành động khẩn cấp; tiếp tục theo dõi báo cáo hằng ngày.",
        "No urgent action; keep reading the daily report.")]
