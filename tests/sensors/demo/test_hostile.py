"""The hostile-names capture: every payload reaches the store verbatim, where the UI reads it."""

from __future__ import annotations

from pathlib import Path

from appliance.config import load_config
from appliance.service import Service
from appliance.store import EventQuery
from sensors.demo.hostile import PAYLOADS, write_hostile_capture
from tests.helpers.demo_store import hostile_appliance


def test_each_field_carries_its_payload_through_suricata(tmp_path: Path) -> None:
    service = Service(load_config(hostile_appliance(tmp_path)))
    try:
        def records(kind: str) -> list[dict]:
            return list(service.store.events(EventQuery(event_type=kind)))

        http = [r["http"] for r in records("http") if "alert(" in str(r)]
        assert http and http[0]["hostname"] == PAYLOADS["host"]
        assert http[0]["url"] == PAYLOADS["uri"]
        assert http[0]["http_user_agent"] == PAYLOADS["user_agent"]
        files = [r["fileinfo"]["filename"] for r in records("fileinfo")]
        assert PAYLOADS["file"] in files
        assert PAYLOADS["dns"] in {r["dns"].get("rrname") for r in records("dns")}
        assert PAYLOADS["sni"] in {r["tls"].get("sni") for r in records("tls")}
        alerts = {r["alert"]["signature_id"] for r in records("alert")}
        # The test URI rule, the cleartext FTP rule, and the test's DNS and TLS name rules.
        assert {9000001, 9000012, 9900001, 9900002} <= alerts
        explanations = [r["finding"]["explanation"]["en"] for r in records("finding")
                        if r["finding"]["type"] == "cleartext-credentials"]  # fmt: skip
        assert any(PAYLOADS["ftp_user"] in text for text in explanations)
    finally:
        service.close()


def test_the_capture_is_the_same_every_time(tmp_path: Path) -> None:
    first = write_hostile_capture(tmp_path / "a.pcap", minutes=2)
    second = write_hostile_capture(tmp_path / "b.pcap", minutes=2)
    assert first.packets == second.packets > 0
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert {s.name for s in first.attacks} == {"hostile_http", "hostile_dns", "hostile_tls",
                                              "hostile_ftp"}  # fmt: skip
