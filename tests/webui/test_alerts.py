"""The alert pages over HTTP (Flask's client) on the analyzed demo capture."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers.demo_store import analyzed_appliance, copy_appliance, demo_web_app
from tests.webui.conftest import ROLE_USERS, WebClient


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_appliance(tmp_path_factory.mktemp("web-demo"))


@pytest.fixture
def demo_app(analyzed: Path, tmp_path: Path) -> Iterator[Flask]:
    app = demo_web_app(copy_appliance(analyzed, tmp_path))
    yield app
    app.extensions["spanwatch"].service.close()


def _client(app: Flask, role: str) -> WebClient:
    client: WebClient = app.test_client()  # type: ignore[assignment]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.login(ROLE_USERS[role]).status_code == 302
    client.get("/language/en")
    return client


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/alerts/(\d+)\?', html)]


def test_viewer_sees_the_inbox_but_no_triage(demo_app: Flask) -> None:
    client = _client(demo_app, "viewer")
    page = client.get("/alerts/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "SPANWATCH TEST HTTP request to /spanwatch-test" in html
    assert len(_ids(html)) == demo_app.extensions["spanwatch"].service.alerts.list().total >= 12
    assert 'name="ids"' not in html
    assert client.post_form("/alerts/triage", {"action": "archive",
                                               "ids": str(_ids(html)[0])}).status_code == 403
    detail = client.get(f"/alerts/{_ids(html)[0]}")
    assert detail.status_code == 200 and "Raw EVE record" in detail.get_data(as_text=True)
    assert client.get(f"/alerts/{_ids(html)[0]}/evidence.pcap").status_code == 403


@pytest.mark.parametrize(("query", "expected", "absent"), [
    ("?event_type=finding", "Port scan", "SPANWATCH TEST"),
    ("?host=10.10.1.30", "Cleartext FTP password", "Port scan"),
    ("?severity=3", "SPANWATCH TEST", "Port scan"),
    ("?q=spanwatch-test", "SPANWATCH TEST", "Port scan"),
    ("?category=reconnaissance", "Host sweep", "SPANWATCH TEST"),
    ("?view=groups", "finding:port-scan", "10.10.20.105:"),
])  # fmt: skip
def test_filters_and_grouping(demo_app: Flask, query: str, expected: str, absent: str) -> None:
    html = _client(demo_app, "viewer").get("/alerts/" + query).get_data(as_text=True)
    assert expected in html and absent not in html


def test_bad_filter_values_are_named_not_fatal(demo_app: Flask) -> None:
    page = _client(demo_app, "viewer").get("/alerts/?host=<b>x</b>&severity=7&since=yesterday")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "not an IP address" in html and "not a date and time" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_archive_and_false_positive_from_the_list(demo_app: Flask) -> None:
    client = _client(demo_app, "analyst")
    ids = _ids(client.get("/alerts/").get_data(as_text=True))
    chosen = [str(i) for i in ids[:3]]
    done = client.post_form("/alerts/triage", {"action": "archive", "ids": chosen,
                                               "next": "/alerts/"})  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].endswith("/alerts/")
    assert len(_ids(client.get("/alerts/").get_data(as_text=True))) == len(ids) - 3
    archived = client.get("/alerts/?status=archived").get_data(as_text=True)
    assert sorted(_ids(archived)) == sorted(ids[:3])
    refused = client.post_form("/alerts/triage", {"action": "false-positive",
                                                  "ids": str(ids[3])})  # fmt: skip
    assert "Say why" in client.get(refused.headers["Location"]).get_data(as_text=True)
    client.post_form("/alerts/triage", {"action": "false-positive", "ids": str(ids[3]),
                                        "reason": "lab test"})  # fmt: skip
    detail = client.get(f"/alerts/{ids[3]}").get_data(as_text=True)
    assert "false-positive" in detail and "lab test" in detail
    audit = demo_app.extensions["spanwatch"].service.audit.list(actor="analyst1")
    assert {"alerts.archive", "alerts.false-positive"} <= {e.action for e in audit.items}


def test_archive_a_whole_group(demo_app: Flask) -> None:
    client = _client(demo_app, "analyst")
    before = len(_ids(client.get("/alerts/").get_data(as_text=True)))
    client.post_form("/alerts/triage", {"action": "archive-group", "gkey": "finding:host-sweep"})
    html = client.get("/alerts/").get_data(as_text=True)
    assert "Host sweep" not in html and len(_ids(html)) == before - 2


def test_triage_needs_a_csrf_token(demo_app: Flask) -> None:
    client = _client(demo_app, "analyst")
    ids = _ids(client.get("/alerts/").get_data(as_text=True))
    assert client.post("/alerts/triage", data={"action": "archive",
                                               "ids": str(ids[0])}).status_code == 400


def test_evidence_pcap_holds_the_packets_of_the_flow(demo_app: Flask) -> None:
    client = _client(demo_app, "analyst")
    html = client.get("/alerts/?sid=9000001").get_data(as_text=True)
    event_id = _ids(html)[0]
    response = client.get(f"/alerts/{event_id}/evidence.pcap")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.tcpdump.pcap"
    assert response.headers["Content-Disposition"].endswith(f'spanwatch-event-{event_id}.pcap"')
    assert response.data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    assert b"/spanwatch-test" in response.data


def test_detail_shows_related_records_and_unknown_ids_404(demo_app: Flask) -> None:
    client = _client(demo_app, "viewer")
    html = client.get("/alerts/?sid=9000001").get_data(as_text=True)
    detail = client.get(f"/alerts/{_ids(html)[0]}").get_data(as_text=True)
    assert "http.url" in detail and "flow.bytes_toserver" in detail
    assert "intranet.gov.example" in detail
    assert client.get("/alerts/77").status_code == 404


