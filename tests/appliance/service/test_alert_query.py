"""Alert filters refuse what they cannot mean, and match text literally."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.service.alert_query import AlertFilter, selection


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"status": "deleted"}, "Unknown alert status"),
    ({"severity": 4}, "Severity"),
    ({"host": "10.0.0.300"}, "not an IP address"),
    ({"src_ip": "<script>"}, "not an IP address"),
    ({"since_us": 10, "until_us": 5}, "before its start"),
])  # fmt: skip
def test_bad_filters_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ApplianceError, match=message):
        AlertFilter(**kwargs)


def test_text_search_is_bound_and_wildcards_are_literal() -> None:
    source, args = selection(AlertFilter(q="100%_done' OR 1=1 --", status=None))
    assert "100%" not in source and "OR 1=1" not in source
    assert args[0] == "%100\\%\\_done' OR 1=1 --%"


def test_no_filter_means_the_whole_index() -> None:
    assert selection(AlertFilter(status=None)) == (" FROM alert_index", [])
    assert selection(AlertFilter()) == (" FROM alert_index WHERE status = ?", ["new"])


def test_a_host_drives_the_query_from_the_address_indexes() -> None:
    source, args = selection(AlertFilter(host="10.0.0.1", severity=1))
    assert source.startswith(" FROM (SELECT event_id AS hid FROM alert_index WHERE src_ip = ?")
    assert "CROSS JOIN alert_index" in source and args == ["10.0.0.1", "10.0.0.1", 1, "new"]
    # An address typed in the search box is a host too.
    assert selection(AlertFilter(q="10.0.0.1"))[1] == ["10.0.0.1", "10.0.0.1", "new"]
