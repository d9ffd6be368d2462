"""Alert filters refuse what they cannot mean, and match text literally."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.service.alert_query import AlertFilter, where_clause


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
    where, args = where_clause(AlertFilter(q="100%_done' OR 1=1 --", status=None))
    assert "100%" not in where and "OR 1=1" not in where
    assert args[0] == "%100\\%\\_done' OR 1=1 --%"


def test_no_filter_means_the_whole_index() -> None:
    assert where_clause(AlertFilter(status=None)) == ("", [])
    assert where_clause(AlertFilter()) == (" WHERE status = ?", ["new"])
