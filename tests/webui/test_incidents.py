"""The incident pages: list with filters, detail with timeline, triage by analysts only."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.incidents.correlate import Correlator
from tests.helpers.incident_store import add_records, alert, finding
from tests.webui.conftest import WebClient
from webui.extensions import current_service

ATTACKER, VICTIM = "203.0.113.66", "10.0.0.20"


@pytest.fixture
def incident_id(app: Any) -> int:
    """A scan, SSH guessing and a C2 beacon from one attacker: one incident."""
    with app.app_context():
        service = current_service()
        records = [alert(m, ATTACKER, VICTIM, 2001219, "ET SCAN Potential SSH Scan",
                         category="Attempted Information Leak") for m in (0, 0.1, 0.2)]
        records += [finding(3, "ssh-bruteforce", "credential-access", ATTACKER, VICTIM,
                            severity=1)]
        records += [alert(5, VICTIM, ATTACKER, 2027000, "ET MALWARE <script>alert(1)</script> C2",
                          category="A Network Trojan was detected", severity=1)]  # fmt: skip
        add_records(service.store, records)
        result = Correlator(service).run_once()
        assert result.new, result
        return int(result.new[0])


def test_list_filters_and_detail_timeline(viewer_client: WebClient, incident_id: int) -> None:
    html = viewer_client.get("/incidents/").get_data(as_text=True)
    assert f'/incidents/{incident_id}"' in html and ATTACKER in html
    assert f'/incidents/{incident_id}"' not in viewer_client.get(
        "/incidents/?status=resolved").get_data(as_text=True)  # fmt: skip
    assert ATTACKER in viewer_client.get(f"/incidents/?host={VICTIM}").get_data(as_text=True)
    assert ATTACKER not in viewer_client.get("/incidents/?host=10.9.9.9").get_data(as_text=True)
    detail = viewer_client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "ET SCAN Potential SSH Scan" in detail and "ssh-bruteforce" in detail
    # Packet data is escaped, never markup.
    assert "<script>alert(1)</script>" not in detail and "&lt;script&gt;" in detail
    assert "sw-inc-comment" not in detail  # a viewer has no triage forms
    assert viewer_client.get("/incidents/999999").status_code == 404


def test_analyst_triages_and_history_records_it(
    analyst_client: WebClient, viewer_client: WebClient, incident_id: int
) -> None:
    url = f"/incidents/{incident_id}"
    assert viewer_client.post_form(url, {"action": "comment", "text": "x"}).status_code == 403
    analyst_client.post_form(url, {"action": "assign", "assignee": "analyst1"})
    analyst_client.post_form(url, {"action": "status", "status": "investigating"})
    analyst_client.post_form(url, {"action": "comment", "text": "Blocked <b>at</b> the edge"})
    bad = analyst_client.post_form(url, {"action": "status", "status": "false-positive"},
                                   follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "alert-danger" in bad  # a false positive needs a reason
    html = analyst_client.get(url).get_data(as_text=True)
    assert "Blocked &lt;b&gt;at&lt;/b&gt; the edge" in html
    with analyst_client.application.app_context():
        found = current_service().incidents.get(incident_id)
        assert found is not None
        assert found.incident.assignee == "analyst1"
        assert found.incident.status == "investigating"
        actions = [e.action for e in current_service().audit.list(action="incident").items]
    assert {"incident.assign", "incident.comment"} <= set(actions)


def test_json_api(analyst_client: WebClient, viewer_client: WebClient, incident_id: int) -> None:
    listed = viewer_client.get("/api/v1/incidents/").get_json()
    assert [i["id"] for i in listed["items"]] == [incident_id]
    one = viewer_client.get(f"/api/v1/incidents/{incident_id}").get_json()
    assert one["attackers"] == [ATTACKER] and one["evidence"]
    headers = {"X-CSRFToken": analyst_client.csrf_token()}
    done = analyst_client.post(f"/api/v1/incidents/{incident_id}", headers=headers,
                               json={"action": "comment", "text": "via API"})  # fmt: skip
    assert done.status_code == 200 and done.get_json()["comments"][-1]["text"] == "via API"
    bad = analyst_client.post(f"/api/v1/incidents/{incident_id}", headers=headers,
                              json={"action": "status", "status": "nope"})  # fmt: skip
    assert bad.status_code == 400
    viewer_headers = {"X-CSRFToken": viewer_client.csrf_token()}
    denied = viewer_client.post(f"/api/v1/incidents/{incident_id}", headers=viewer_headers,
                                json={"action": "comment", "text": "x"})  # fmt: skip
    assert denied.status_code == 403


def test_suppressions_are_listed_and_analysts_end_them(
    analyst_client: WebClient, viewer_client: WebClient, app: Any
) -> None:
    with app.app_context():
        incidents = current_service().incidents
        sup = incidents.suppress(sid=2001219, src="203.0.113.0/24", reason="our <b>scanner</b>",
                                 actor="seed")  # fmt: skip
    html = viewer_client.get("/incidents/suppressions").get_data(as_text=True)
    assert "203.0.113.0/24" in html and "our &lt;b&gt;scanner&lt;/b&gt;" in html
    assert "/end" not in html  # viewers only read
    url = f"/incidents/suppressions/{sup}/end"
    assert viewer_client.post_form(url).status_code == 403
    analyst_client.post_form(url)
    assert "203.0.113.0/24" not in analyst_client.get("/incidents/suppressions").get_data(
        as_text=True)  # fmt: skip
    assert "203.0.113.0/24" in analyst_client.get("/incidents/suppressions?all=1").get_data(
        as_text=True)  # fmt: skip
    listed = viewer_client.get("/api/v1/incidents/suppressions?all=1").get_json()["items"]
    assert [s["id"] for s in listed] == [sup]
    headers = {"X-CSRFToken": analyst_client.csrf_token()}
    assert analyst_client.delete(f"/api/v1/incidents/suppressions/{sup}",
                                 headers=headers).status_code == 404  # already ended
