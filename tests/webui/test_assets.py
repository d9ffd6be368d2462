"""The asset pages: inventory, host page, edits by admins only, CSV import and export."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.webui.conftest import WebClient
from webui.extensions import current_service

CSV = ("ip,owner,agency,criticality,tags\n10.0.0.5,Nguyễn Văn A,Sở TT&TT,high,web;dmz\n"
       "10.0.0.9,,,low,\n")


@pytest.fixture
def assets(app: Any) -> None:
    with app.app_context():
        created, updated, errors = current_service().assets.import_csv(CSV, actor="seed")
        assert (created, errors) == (2, [])
        current_service().risk.recompute()  # as spanwatch core does: every asset gets a score


def test_inventory_list_search_and_host_page(viewer_client: WebClient, assets: None) -> None:
    html = viewer_client.get("/assets/").get_data(as_text=True)
    assert "10.0.0.5" in html and "10.0.0.9" in html and "Nguyễn Văn A" in html
    assert "sw-risk" in html  # the scores are shown
    html = viewer_client.get("/assets/?q=dmz").get_data(as_text=True)
    assert "10.0.0.5" in html and "10.0.0.9" not in html
    assert "10.0.0.5" not in viewer_client.get("/assets/?criticality=low").get_data(as_text=True)
    host = viewer_client.get("/assets/10.0.0.5").get_data(as_text=True)
    assert "Sở TT&amp;TT" in host and "sw-asset-edit" not in host  # viewers only read
    assert viewer_client.get("/assets/10.1.2.3").status_code == 404
    assert viewer_client.get("/assets/not-an-ip").status_code == 404


def test_admin_edits_and_viewer_cannot(
    admin_client: WebClient, viewer_client: WebClient, analyst_client: WebClient, assets: None
) -> None:
    form = {"criticality": "critical", "owner": "Trần B", "agency": "UBND", "tags": "db, core"}
    for client in (viewer_client, analyst_client):
        assert client.post_form("/assets/10.0.0.9", form).status_code == 403
    admin_client.post_form("/assets/10.0.0.9", form)
    with admin_client.application.app_context():
        found = current_service().assets.get("10.0.0.9")
        assert found is not None
        assert (found.asset.criticality, found.asset.owner, found.asset.tags) == (
            "critical", "Trần B", ["db", "core"])  # fmt: skip
        actions = [e.action for e in current_service().audit.list(action="asset").items]
    assert "asset.update" in actions
    bad = admin_client.post_form("/assets/10.0.0.9", {**form, "criticality": "extreme"},
                                 follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "alert-danger" in bad


def _upload(client: WebClient, data: dict[str, Any]) -> str:
    response = client.post_form("/assets/import", data, follow_redirects=True,
                                content_type="multipart/form-data")  # fmt: skip
    return str(response.get_data(as_text=True))


def test_csv_export_and_import(admin_client: WebClient, assets: None) -> None:
    exported = admin_client.get("/assets/export.csv")
    assert exported.mimetype == "text/csv" and "10.0.0.5" in exported.get_data(as_text=True)
    good = {"file": (io.BytesIO(b"ip,criticality\n10.0.0.77,high\n"), "a.csv")}
    html = _upload(admin_client, good)
    assert "alert-success" in html
    bad = {"file": (io.BytesIO(b"ip,criticality\n10.0.0.78,high\nnot-an-ip,low\n"), "b.csv")}
    html = _upload(admin_client, bad)
    assert "alert-danger" in html
    with admin_client.application.app_context():
        assert current_service().assets.get("10.0.0.77") is not None
        assert current_service().assets.get("10.0.0.78") is None  # nothing of a bad file


def test_json_api(admin_client: WebClient, viewer_client: WebClient, assets: None) -> None:
    listed = viewer_client.get("/api/v1/assets/?q=dmz").get_json()
    assert [a["ip"] for a in listed["items"]] == ["10.0.0.5"]
    one = viewer_client.get("/api/v1/assets/10.0.0.5").get_json()
    assert one["owner"] == "Nguyễn Văn A" and "risk_detail" in one and one["incidents"] == []
    headers = {"X-CSRFToken": admin_client.csrf_token()}
    done = admin_client.patch("/api/v1/assets/10.0.0.5", json={"criticality": "low"},
                              headers=headers)  # fmt: skip
    assert done.get_json()["criticality"] == "low"
    denied = viewer_client.patch("/api/v1/assets/10.0.0.5", json={"criticality": "low"},
                                 headers={"X-CSRFToken": viewer_client.csrf_token()})  # fmt: skip
    assert denied.status_code == 403
    bad = admin_client.post("/api/v1/assets/import", data="ip\nnope\n", headers=headers,
                            content_type="text/csv")  # fmt: skip
    assert bad.status_code == 400 and bad.get_json()["errors"]


def test_admin_sees_the_import_form_and_edit_form(admin_client: WebClient, assets: None) -> None:
    html = admin_client.get("/assets/").get_data(as_text=True)
    assert 'id="sw-asset-import"' in html and "10.0.0.5" in html
    assert 'id="sw-asset-edit"' in admin_client.get("/assets/10.0.0.5").get_data(as_text=True)
