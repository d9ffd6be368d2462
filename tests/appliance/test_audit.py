"""The audit log: area.verb actions, newest first, filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.audit import AuditService, record
from appliance.state import open_state


def test_record_and_list_newest_first(tmp_path: Path) -> None:
    state = open_state(tmp_path / "state.db")
    record(state, "admin1", "user.create", "lan", {"role": "analyst"}, ts=1)
    record(state, "lan", "incident.comment", "7", {"text": "checked"}, ts=2)
    page = AuditService(state).list()
    assert [e.action for e in page.items] == ["incident.comment", "user.create"]
    assert page.items[1].detail == {"role": "analyst"} and page.total == 2
    assert AuditService(state).list(action="user").total == 1
    assert AuditService(state).list(q="checked").items[0].actor == "lan"
    assert AuditService(state).list(q="%").total == 0


def test_malformed_action_is_refused(tmp_path: Path) -> None:
    state = open_state(tmp_path / "state.db")
    with pytest.raises(ValueError):
        record(state, "admin1", "did something", "x")
