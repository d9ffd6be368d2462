"""Which fields of EVE records the detail page shows, and how values become text."""

from __future__ import annotations

from webui.alerts.records import fields_of, related_rows, shown, summary_fields


def test_fields_per_event_type() -> None:
    http = {"event_type": "http", "http": {"hostname": "<b>x</b>", "url": "/a", "status": 200}}
    assert fields_of(http) == [("http.hostname", "<b>x</b>"), ("http.url", "/a"),
                               ("http.status", "200")]  # fmt: skip
    dns = {"event_type": "dns", "dns": {"rrname": "a.example", "answers": [
        {"rrname": "a.example", "rdata": "192.0.2.1"}, {"rdata": "192.0.2.2"}]}}
    assert ("dns.answers", "192.0.2.1, 192.0.2.2") in fields_of(dns)
    other = {"event_type": "quic", "quic": {"version": "1", "sni": "q.example"}}
    assert fields_of(other) == [("quic.version", "1"), ("quic.sni", "q.example")]


def test_an_alert_shows_the_protocol_fields_it_carries() -> None:
    alert = {"event_type": "alert", "alert": {"signature_id": 1},
             "tls": {"sni": "s.example", "version": "TLS 1.2"}}  # fmt: skip
    assert summary_fields(alert) == [("tls.sni", "s.example"), ("tls.version", "TLS 1.2")]


def test_values_become_short_text() -> None:
    assert shown(True) == "yes" and shown({"a": 1}) == "a=1"
    assert len(shown("x" * 5000)) == 401


def test_related_rows_put_flows_last() -> None:
    rows = related_rows({"flow": [{"_id": 1, "event_type": "flow", "flow": {}}],
                         "http": [{"_id": 2, "event_type": "http", "http": {"url": "/"}}]})
    assert [r["type"] for r in rows] == ["http", "flow"]
