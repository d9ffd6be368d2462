"""A remote sensor's packet findings (stored locally) reach the center once."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.store import EventQuery, open_store
from sensors.capture import FindingWriter
from sensors.eve.reader import fingerprint_of
from sensors.remote import RemoteSink, read_token
from tests.helpers.center import center_config, make_cert, running_center, sensor_config
from tests.helpers.eve import wait_for


def _findings(n: int) -> list[bytes]:
    return [json.dumps({
        "timestamp": "2026-11-24T08:00:00.000000+0000", "event_type": "finding",
        "src_ip": "192.0.2.66", "dest_ip": f"192.0.2.{i + 1}",
        "finding": {"type": "arp-spoof", "category": "impact", "severity": 2, "confidence": 0.9,
                    "explanation": {"vi": "giả mạo ARP", "en": "ARP spoofing"}, "evidence": {}},
    }).encode() for i in range(n)]  # fmt: skip


def _count(path: Path) -> int:
    store = open_store(path, readonly=True)
    try:
        return store.count_events(EventQuery(event_type="finding"))
    finally:
        store.close()


def test_packet_findings_stored_at_the_sensor_are_forwarded_once(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path / "tls", "127.0.0.1")
    with running_center(center_config(tmp_path / "center", cert, key)) as center:
        cfg = sensor_config(tmp_path / "sensor", "site-a", center.url, cert)
        center.enrol(cfg)
        local = open_store(cfg.store_path)
        writer = FindingWriter(local, "site-a", fingerprint_of(b"packets-test"), "span0#packets")
        writer.write(_findings(5))
        sink = RemoteSink(cfg, token=read_token(cfg))
        wait_for(lambda: _count(center.cfg.store_path) == 5, timeout=30, what="5 findings")
        writer.write(_findings(8))  # 3 new ones
        wait_for(lambda: _count(center.cfg.store_path) == 8, timeout=30, what="8 findings")
        sink.close()
        # Lost cursor: everything is sent again, and stored once.
        (cfg.data_dir / "center" / "forward-cursor").unlink()
        sink = RemoteSink(cfg, token=read_token(cfg))
        sink.forwarder.stop()
        assert sink.forwarder.forwarded == 8
        assert sink.wait_idle(30)
        sink.close()
        local.close()
        assert _count(center.cfg.store_path) == 8
