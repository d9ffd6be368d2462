"""Times in the appliance's time zone, numbers in the reader's language, the nav."""

from __future__ import annotations

from flask import Flask, session

from webui.templating import ago, filesize, localtime, number

# 2026-11-24 07:30:00 UTC
NOON_UTC_US = 1_795_505_400 * 1_000_000


def test_times_are_shown_in_the_appliance_time_zone(app: Flask) -> None:
    with app.test_request_context("/"):
        assert app.extensions["spanwatch"].cfg.timezone == "Asia/Ho_Chi_Minh"
        assert localtime(NOON_UTC_US) == "2026-11-24 14:30:00"
        assert localtime(NOON_UTC_US, "%H:%M %Z") == "14:30 +07"
        assert localtime(None) == "—"


def test_relative_times_and_sizes(app: Flask) -> None:
    with app.test_request_context("/"):
        session["lang"] = "en"
        assert ago(NOON_UTC_US - 30_000_000, now_us=NOON_UTC_US) == "just now"
        assert ago(NOON_UTC_US - 5 * 60_000_000, now_us=NOON_UTC_US) == "5 min ago"
        assert ago(NOON_UTC_US - 3 * 86_400_000_000, now_us=NOON_UTC_US) == "3 days ago"
    assert filesize(1536) == "1.5 KiB" and filesize(None) == "—"


def test_numbers_follow_the_language(app: Flask) -> None:
    with app.test_request_context("/"):
        session["lang"] = "vi"
        assert number(1234567) == "1.234.567"
        assert ago(NOON_UTC_US - 2 * 3_600_000_000, now_us=NOON_UTC_US) == "2 giờ trước"
    with app.test_request_context("/"):
        session["lang"] = "en"
        assert number(1234567) == "1,234,567" and number(2.5) == "2.5"
