"""Requests from the web UI to the core: queued, claimed once, outcome recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.service.requests import RequestService
from appliance.state import open_state


@pytest.fixture
def requests(tmp_path: Path) -> RequestService:
    return RequestService(open_state(tmp_path / "state.db"))


def test_a_request_is_claimed_once_and_its_outcome_recorded(requests: RequestService) -> None:
    rid = requests.submit("rules.apply", {"sids": [2000001]}, actor="admin")
    first = requests.get(rid)
    assert first is not None and first.status == "pending" and first.actor == "admin"
    claimed = requests.claim()
    assert claimed is not None and claimed.id == rid and claimed.status == "running"
    assert claimed.params == {"sids": [2000001]}
    assert requests.claim() is None
    requests.finish(rid, {"rules": 42})
    done = requests.get(rid)
    assert done is not None and done.status == "done" and done.result == {"rules": 42}
    assert done.finished_at is not None and done.finished_at >= done.submitted_at


def test_a_failed_request_keeps_its_message(requests: RequestService) -> None:
    rid = requests.submit("rules.apply", actor="admin")
    assert requests.claim() is not None
    requests.fail(rid, "suricata -T rejected the rules")
    failed = requests.get(rid)
    assert failed is not None and failed.status == "failed"
    assert failed.error == "suricata -T rejected the rules"


def test_requests_left_running_by_a_dead_core_run_again(requests: RequestService) -> None:
    rid = requests.submit("jobs.run", {"job": "report"}, actor="admin")
    assert requests.claim() is not None
    assert requests.requeue_interrupted() == 1
    again = requests.claim()
    assert again is not None and again.id == rid


def test_requests_are_listed_newest_first_and_by_kind(requests: RequestService) -> None:
    a = requests.submit("rules.apply", actor="admin")
    b = requests.submit("jobs.run", actor="admin")
    assert [r.id for r in requests.list()] == [b, a]
    assert [r.id for r in requests.list(kind="rules.apply")] == [a]


def test_a_request_needs_a_kind(requests: RequestService) -> None:
    with pytest.raises(ValueError):
        requests.submit("", actor="admin")
