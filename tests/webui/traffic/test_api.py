"""``/api/v1/traffic``: the traffic views as JSON."""

from __future__ import annotations

from flask import Flask

from tests.webui.test_traffic import _busiest_host, _viewer, demo_app  # noqa: F401 (fixture)


def test_top_and_throughput_as_json(demo_app: Flask) -> None:  # noqa: F811
    client = _viewer(demo_app)
    top = client.get("/api/v1/traffic/top/app?window=30d&n=3").get_json()
    assert 0 < len(top["items"]) <= 3 and {"key", "bytes", "flows"} <= set(top["items"][0])
    points = client.get("/api/v1/traffic/throughput?window=30d").get_json()["points"]
    assert points and {"ts", "bits_per_s", "drops"} <= set(points[0])
    assert client.get("/api/v1/traffic/top/planets").status_code == 404
    assert client.get("/api/v1/traffic/throughput?step=9").status_code == 400


def test_host_flows_and_daily_as_json(demo_app: Flask) -> None:  # noqa: F811
    client = _viewer(demo_app)
    ip = _busiest_host(demo_app)
    host = client.get(f"/api/v1/traffic/host/{ip}?since=0&until={1 << 62}").get_json()
    assert host["ip"] == ip and host["totals"]["bytes_out"] + host["totals"]["bytes_in"] > 0
    flows = client.get(f"/api/v1/traffic/flows?since=0&until={1 << 62}&ip={ip}&limit=2")
    body = flows.get_json()
    assert body["total"] > 0 and len(body["items"]) <= 2
    assert client.get("/api/v1/traffic/daily").status_code == 400
    day = client.get("/api/v1/traffic/daily?day=0").get_json()
    assert day["volume"] == {"bytes": 0, "packets": 0, "flows": 0}
