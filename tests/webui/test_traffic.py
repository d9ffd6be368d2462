"""The traffic pages over HTTP on an analysed demo capture: throughput, tops, a host, flows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers.cli import run_spanwatch
from tests.helpers.demo_store import analyzed_appliance, demo_web_app, write_config
from tests.webui.conftest import ROLE_USERS, WebClient


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = demo_web_app(analyzed_appliance(tmp_path_factory.mktemp("traffic-web")))
    yield app
    app.extensions["spanwatch"].service.close()


def _viewer(app: Flask, lang: str = "en") -> WebClient:
    client: WebClient = app.test_client()  # type: ignore[assignment]
    assert client.login(ROLE_USERS["viewer"]).status_code == 302
    client.get(f"/language/{lang}")
    return client


def _busiest_host(app: Flask) -> str:
    with app.app_context():
        service = app.extensions["spanwatch"].service
        top = service.traffic.top("talker", 0, 1 << 62, n=1)
    return str(top[0].key)


def test_the_traffic_page_shows_throughput_drops_and_tops(demo_app: Flask) -> None:
    page = _viewer(demo_app).get("/traffic/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Throughput and SPAN drops" in html and 'id="chart-throughput"' in html
    assert "showing the period up to the newest traffic" in html  # a capture from the past
    for box in ("app", "service", "talker", "conversation", "country", "asn"):
        assert f'id="sw-top-{box}"' in html
    assert "Nothing in this window." not in html.split('id="sw-top-talker"')[1][:2000]
    assert _busiest_host(demo_app) in html
    assert _viewer(demo_app).get("/traffic/?window=30d").status_code == 200


def test_the_pages_are_in_vietnamese_by_default(demo_app: Flask) -> None:
    html = _viewer(demo_app, "vi").get("/traffic/").get_data(as_text=True)
    assert "Lưu lượng" in html and "Thông lượng" in html


def test_a_host_page_has_its_peers_and_services(demo_app: Flask) -> None:
    ip = _busiest_host(demo_app)
    page = _viewer(demo_app).get(f"/traffic/host/{ip}?window=30d")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="chart-host"' in html and 'id="sw-host-peers"' in html
    assert _viewer(demo_app).get("/traffic/host/not-an-address").status_code == 404


def test_flow_search_filters_and_escapes_the_records(demo_app: Flask) -> None:
    ip = _busiest_host(demo_app)
    client = _viewer(demo_app)
    html = client.get(f"/traffic/flows?window=30d&ip={ip}").get_data(as_text=True)
    assert 'id="sw-flow-results"' in html and ip in html
    bad = client.get("/traffic/flows?window=30d&port=99999").get_data(as_text=True)
    assert "is not a port number" in bad
    none = client.get("/traffic/flows?window=30d&ip=192.0.2.250").get_data(as_text=True)
    assert "No flows match" in none


def test_the_pages_need_a_login(demo_app: Flask) -> None:
    client = demo_app.test_client()
    for path in ("/traffic/", "/traffic/flows", "/api/v1/traffic/top/app"):
        assert client.get(path).status_code in (302, 401)


def test_a_flooded_minutes_other_hosts_are_named_not_linked(tmp_path: Path) -> None:
    """Past the minute's number of host pairs, a flood's spoofed sources count as "other
    hosts": shown as such, in both languages, with no host page to link to."""
    config = write_config(tmp_path, {"traffic": {"conversations_per_minute": 100}})
    start = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.timezone.utc)
    lines = []
    for i in range(150):  # a SYN flood on a web server from 150 spoofed sources
        stamp = (start + dt.timedelta(milliseconds=100 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
        lines.append(json.dumps({
            "timestamp": stamp, "flow_id": i + 1, "event_type": "flow", "proto": "TCP",
            "src_ip": f"198.51.100.{i + 1}", "src_port": 1024 + i, "dest_ip": "10.1.0.7",
            "dest_port": 80, "flow": {"pkts_toserver": 1, "pkts_toclient": 0,
                                      "bytes_toserver": 60, "bytes_toclient": 0,
                                      "start": stamp, "end": stamp}}))  # fmt: skip
    eve = tmp_path / "eve.json"
    eve.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_spanwatch("ingest", "--config", config, eve)
    assert done.returncode == 0, done.stderr
    app = demo_web_app(config)
    try:
        client = _viewer(app)
        html = client.get("/traffic/?window=30d").get_data(as_text=True)
        box = html.split('id="sw-top-conversation"')[1].split("</table>")[0]
        assert "other hosts</span> → <a" in box  # 50 of the sources, as one row
        assert 'href="/traffic/host/10.1.0.7' in box and "/traffic/host/None" not in box
        host = client.get("/traffic/host/10.1.0.7?window=30d").get_data(as_text=True)
        assert "other hosts" in host.split('id="sw-host-peers"')[1]
        vi = _viewer(app, "vi").get("/traffic/?window=30d").get_data(as_text=True)
        assert "các máy khác" in vi.split('id="sw-top-conversation"')[1]
    finally:
        app.extensions["spanwatch"].service.close()
