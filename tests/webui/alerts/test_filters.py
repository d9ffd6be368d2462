"""The alert list's query string: presets, local times, and bad values named."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from webui.alerts.filters import local_to_us, parse_filter, query_args

NOW = 1_800_000_000_000_000
TZ = "Asia/Ho_Chi_Minh"


def test_presets_and_local_times() -> None:
    parsed = parse_filter(MultiDict({"range": "24h", "severity": "1", "host": "10.0.0.5"}), TZ,
                          now_us=NOW)  # fmt: skip
    assert parsed.errors == {}
    assert parsed.flt.since_us == NOW - 24 * 3_600_000_000
    assert (parsed.flt.severity, parsed.flt.host, parsed.flt.status) == (1, "10.0.0.5", "new")
    # 07:00 in Hanoi is midnight UTC.
    assert local_to_us("2025-03-04T07:00", TZ) == 1_741_046_400_000_000
    every = parse_filter(MultiDict({"status": "all", "since": "2025-03-04T07:00"}), TZ)
    assert every.flt.status is None and every.flt.since_us == 1_741_046_400_000_000


def test_bad_values_are_named_and_dropped() -> None:
    parsed = parse_filter(MultiDict({"range": "1y", "sid": "abc", "severity": "9",
                                     "host": "nope", "since": "2025-13-01T00:00",
                                     "status": "deleted", "event_type": "dns"}), TZ)  # fmt: skip
    assert set(parsed.errors) == {"range", "sid", "severity", "host", "since", "status",
                                  "event_type"}  # fmt: skip
    flt = parsed.flt
    assert (flt.sid, flt.severity, flt.host, flt.since_us, flt.event_type) == (None,) * 5
    assert flt.status == "new"


def test_reversed_time_range_is_refused() -> None:
    parsed = parse_filter(MultiDict({"since": "2025-03-05T00:00", "until": "2025-03-04T00:00"}),
                          TZ)  # fmt: skip
    assert "since" in parsed.errors and parsed.flt.since_us is None


def test_query_args_keep_the_filter_and_change_one_thing() -> None:
    values = {"host": "10.0.0.5", "q": "", "status": "archived", "page": "3"}
    assert query_args(values, page=None, view="groups") == {
        "host": "10.0.0.5", "status": "archived", "view": "groups"}
