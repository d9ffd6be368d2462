"""The rules pages: search, switch a rule, categories, thresholds, sources, apply."""

from __future__ import annotations

import io
import tarfile

from appliance.service import Service
from tests.webui.conftest import WebClient
from webui.extensions import current_service

TEST_SID = 9000001


def _service(client: WebClient) -> Service:
    with client.application.app_context():
        return current_service()


def test_search_page_and_instant_fragment(viewer_client: WebClient) -> None:
    page = viewer_client.get("/rules/?q=telnet")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Cleartext Telnet session" in html and 'id="sw-rule-search"' in html
    fragment = viewer_client.get("/rules/?q=spanwatch-test&fragment=1").get_data(as_text=True)
    assert "<html" not in fragment and str(TEST_SID) in fragment
    assert "Telnet" not in fragment
    # A viewer sees no switch.
    assert "sw-rule-toggle" not in html
    assert viewer_client.get(f"/rules/{TEST_SID}").status_code == 200
    assert viewer_client.get("/rules/1").status_code == 404


def test_viewer_and_analyst_cannot_change_rules(
    viewer_client: WebClient, analyst_client: WebClient
) -> None:
    for client in (viewer_client, analyst_client):
        form = {"sids": str(TEST_SID), "state": "disable"}
        assert client.post_form("/rules/switch", form).status_code == 403
        assert client.post_form("/rules/apply").status_code == 403


def test_admin_disables_a_rule_with_a_reason_and_asks_the_core_to_apply(
    admin_client: WebClient,
) -> None:
    form = {"sids": str(TEST_SID), "state": "disable", "reason": "demo noise"}
    response = admin_client.post_form("/rules/switch", form, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "1 rule(s) changed" in html or "1 luật" in html
    service = _service(admin_client)
    assert service.rules.policy().disable_sids == (TEST_SID,)
    assert service.audit.list(action="rules").items[0].action == "rules.disable"
    detail = admin_client.get(f"/rules/{TEST_SID}").get_data(as_text=True)
    assert "demo noise" in detail
    preview = admin_client.get("/rules/apply").get_data(as_text=True)
    assert "sw-rules-apply" in preview
    admin_client.post_form("/rules/apply", follow_redirects=True)
    (req,) = service.requests.list(kind="rules.apply")
    assert req.status == "pending" and req.actor == "admin1"


def test_row_toggle_categories_and_thresholds(admin_client: WebClient) -> None:
    service = _service(admin_client)
    admin_client.post_form(f"/rules/switch?one={TEST_SID}&to=disable", {})
    assert service.rules.get(TEST_SID)["rule"].enabled is False  # type: ignore[index]
    assert "local" in admin_client.get("/rules/categories").get_data(as_text=True)
    admin_client.post_form("/rules/categories", {"kind": "category", "name": "local",
                                                 "state": "disable"})  # fmt: skip
    assert service.rules.counts()["enabled"] == 0
    form = {"kind": "suppress", "sid": str(TEST_SID), "ip": "10.9.8.7", "track": "by_src",
            "reason": "pentest box", "expires": "7"}  # fmt: skip
    admin_client.post_form("/rules/thresholds", form)
    html = admin_client.get("/rules/thresholds").get_data(as_text=True)
    assert "suppress gen_id 1, sig_id 9000001, track by_src, ip 10.9.8.7" in html
    assert "pentest box" in html
    bad = admin_client.post_form("/rules/thresholds", {**form, "reason": ""},
                                 follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "alert-danger" in bad


def test_upload_bundle_page_and_rejection(admin_client: WebClient) -> None:
    out = io.BytesIO()
    rule = b'alert tcp any any -> any 3389 (msg:"OFFLINE RDP"; sid:9200001; rev:1;)\n'
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("rules/x.rules")
        info.size = len(rule)
        tar.addfile(info, io.BytesIO(rule))
    data = {"action": "upload", "name": "offline", "bundle": (io.BytesIO(out.getvalue()), "b.tgz")}
    response = admin_client.post_form("/rules/sources", data, follow_redirects=True,
                                      content_type="multipart/form-data")  # fmt: skip
    assert "offline" in response.get_data(as_text=True)
    assert _service(admin_client).rules.search("OFFLINE RDP").total == 1
    evil = {"action": "upload", "name": "evil", "bundle": (io.BytesIO(b"junk"), "x.tar.gz")}
    response = admin_client.post_form(
        "/rules/sources", evil, follow_redirects=True, content_type="multipart/form-data"
    )
    assert "alert-danger" in response.get_data(as_text=True)
    assert "evil" not in [s.name for s in _service(admin_client).rules.sources()]


def test_json_api(admin_client: WebClient, viewer_client: WebClient) -> None:
    got = viewer_client.get("/api/v1/rules/?q=telnet").get_json()
    assert got["total"] == 1 and got["items"][0]["sid"] == 9000010
    assert viewer_client.get(f"/api/v1/rules/{TEST_SID}").get_json()["rule"]["sid"] == TEST_SID
    token = {"X-CSRFToken": admin_client.csrf_token()}
    changed = admin_client.post("/api/v1/rules/switch", json={"state": "disable",
                                "sids": [TEST_SID], "reason": "api"}, headers=token)  # fmt: skip
    assert changed.get_json() == {"changed": 1}
    denied = viewer_client.post("/api/v1/rules/switch", json={"state": "disable", "sids": [1]},
                                headers={"X-CSRFToken": viewer_client.csrf_token()})  # fmt: skip
    assert denied.status_code == 403
    preview = viewer_client.get("/api/v1/rules/preview").get_json()
    assert "diff" in preview and "counts" in preview
    assert admin_client.post("/api/v1/rules/apply", headers=token).status_code == 202


def test_the_noisiest_rules_are_offered_for_tuning(admin_client: WebClient) -> None:
    import datetime as dt

    from tests.helpers.incident_store import add_records

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    record = {"timestamp": stamp, "event_type": "alert", "src_ip": "10.0.0.7",
              "dest_ip": "10.0.0.8", "src_port": 40000, "dest_port": 23, "proto": "TCP",
              "alert": {"action": "allowed", "gid": 1, "signature_id": 9000010, "rev": 1,
                        "signature": "SPANWATCH POLICY Cleartext Telnet session",
                        "category": "Policy", "severity": 2}}  # fmt: skip
    with admin_client.application.app_context():
        add_records(current_service().store, [record] * 3)
    html = admin_client.get("/rules/").get_data(as_text=True)
    assert "sw-noisy" in html and 'href="/rules/9000010"' in html


def test_check_the_sources_asks_the_core_and_shows_its_answer(admin_client: WebClient) -> None:
    admin_client.post_form("/rules/check")
    service = _service(admin_client)
    (req,) = service.requests.list(kind="rules.preview")
    assert req.status == "pending"
    # What the core records when it has handled the request:
    service.rules.record_preview({"ok": True, "added": [9000001], "removed": [], "changed": [],
                                  "rules": 42, "sources": ["local"]})  # fmt: skip
    html = admin_client.get("/rules/apply").get_data(as_text=True)
    assert "sw-checked" in html and "42" in html and 'href="/rules/9000001"' in html
    got = admin_client.get("/api/v1/rules/preview").get_json()
    assert got["last_check"]["added"] == [9000001]
