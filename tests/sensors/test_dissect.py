"""``spanwatch dissect``: the packets of a finding or an alert, from the analysed capture or
from the sensor's pcap ring, as layers and fields; and the display filters behind it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from appliance.cli import main as spanwatch_main
from appliance.config import AppConfig
from appliance.errors import ApplianceError, CaptureError
from appliance.events import decode_line
from appliance.store import EventQuery, event_id, open_store
from sensors.dissect import display_filter, dissect_event, time_range
from tests.helpers import cli, l2

POISON = cli.testdata_dir() / "pcaps" / "arp-spoofing" / "chrissanders_arppoison.pcapng"
CLIENT, SERVER = "192.0.2.10", "198.51.100.80"


def http_session(sport: int, start: float) -> list[Packet]:
    """A complete HTTP exchange between CLIENT:sport and SERVER:80."""
    c = Ether(src=l2.mac(10), dst=l2.mac(1)) / IP(src=CLIENT, dst=SERVER)
    s = Ether(src=l2.mac(1), dst=l2.mac(10)) / IP(src=SERVER, dst=CLIENT)
    request = b"GET /spanwatch-dissect HTTP/1.1\r\nHost: example.org\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    frames = [c / TCP(sport=sport, dport=80, flags="S", seq=100),
              s / TCP(sport=80, dport=sport, flags="SA", seq=500, ack=101),
              c / TCP(sport=sport, dport=80, flags="A", seq=101, ack=501),
              c / TCP(sport=sport, dport=80, flags="PA", seq=101, ack=501) / Raw(request),
              s / TCP(sport=80, dport=sport, flags="PA", seq=501, ack=101 + len(request))
              / Raw(reply)]  # fmt: skip
    return l2.timed(frames, start=start, step=0.01)


def spanwatch(config: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> Any:
    assert spanwatch_main([*map(str, args), "--config", str(config)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.suricata
def test_a_finding_and_an_alert_of_analysed_captures_are_dissected(
    tmp_path: Path, appliance_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "test.rules"
    rules.write_text('alert http any any -> any any (msg:"dissect me"; http.uri; '
                     'content:"/spanwatch-dissect"; sid:9100001; rev:1;)\n')  # fmt: skip
    web = l2.write_pcap(tmp_path / "web.pcap", http_session(40000, l2.T0)
                        + http_session(40001, l2.T0 + 1))  # fmt: skip
    spanwatch(appliance_config, capsys, "analyze", "--json", "--rules", rules,
              "--checksum", "none", POISON, web)  # fmt: skip
    store = open_store(appliance_config.parent / "data" / "spanwatch.db", readonly=True)
    try:
        (finding,) = store.events(EventQuery(event_type="finding"))
        alert = next(store.events(EventQuery(event_type="alert")))
    finally:
        store.close()

    view = spanwatch(appliance_config, capsys, "dissect", "--json", "--event-id",
                     finding["_id"])  # fmt: skip
    assert [str(Path(f).resolve()) for f in view["files"]] == [str(POISON.resolve())]
    assert view["truncated"] is False
    assert [p["number"] for p in view["packets"]] == [54, 55, 56, 165]
    first = view["packets"][0]
    assert first["time"] == "2010-07-16T03:39:37.376536+0000"
    assert [layer["name"] for layer in first["layers"]] == ["eth", "arp"]
    arp = first["layers"][1]["fields"]
    assert (arp["arp.src.hw_mac"], arp["arp.src.proto_ipv4"], arp["arp.opcode"]) == (
        "00:25:b3:bf:91:ee", "172.16.0.1", 1)  # fmt: skip

    view = spanwatch(appliance_config, capsys, "dissect", "--json", "--event-id", alert["_id"])
    ports = {p["layers"][2]["fields"]["tcp.srcport"] for p in view["packets"]}
    assert ports == {alert["src_port"], 80} and len(view["packets"]) >= 5  # its flow only
    assert any(layer["name"] == "http" for p in view["packets"] for layer in p["layers"])
    assert spanwatch_main(["dissect", "--event-id", str(alert["_id"]), "--limit", "2",
                           "--config", str(appliance_config)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "(more not shown)" in text and "    tcp.dstport: 80" in text


def store_event(cfg: AppConfig, record: dict[str, Any], source: bytes) -> int:
    """Put one EVE record in the store under a source of no analysed capture."""
    store = open_store(cfg.store_path)
    try:
        sid = store.source_id(source.ljust(16, b"\0"), "eve.json")
        raw = json.dumps(record).encode()
        store.add_events([decode_line(raw, event_id(sid, 7))], "lab")
    finally:
        store.close()
    return event_id(sid, 7)


def test_live_alerts_are_dissected_from_the_pcap_ring_file_of_their_time(tmp_path: Path) -> None:
    cfg = AppConfig(data_dir=tmp_path / "data")
    ring = cfg.sensor_dir("eth9") / "pcap"
    ring.mkdir(parents=True)
    l2.write_pcap(ring / "log.pcap.1700000000", http_session(40000, l2.T0))
    l2.write_pcap(ring / "log.pcap.1700000100", http_session(40001, l2.T0 + 100))
    l2.write_pcap(ring / "log.pcap.1700000200", http_session(40001, l2.T0 + 200))
    alert = {"timestamp": "2023-11-14T22:15:00.030000+0000", "event_type": "alert",
             "in_iface": "eth9", "src_ip": CLIENT, "src_port": 40001, "dest_ip": SERVER,
             "dest_port": 80, "proto": "TCP", "flow": {"start": "2023-11-14T22:15:00.000000+0000"},
             "alert": {"signature_id": 1, "severity": 2}}  # fmt: skip
    eid = store_event(cfg, alert, b"live")
    store = open_store(cfg.store_path, readonly=True)
    try:
        view = dissect_event(cfg, store, eid)
        with pytest.raises(ApplianceError, match="No event with id"):
            dissect_event(cfg, store, eid + 1)
    finally:
        store.close()
    # The file before may still hold packets of the range; the file after may not.
    assert view.files == [str(ring / "log.pcap.1700000000"), str(ring / "log.pcap.1700000100")]
    assert [(p.file, p.number) for p in view.packets] == [(view.files[1], n) for n in range(1, 6)]
    assert view.packets[0].layers[2].fields["tcp.flags"] == "0x0002"


def test_without_a_capture_or_ring_file_the_user_is_told_why(tmp_path: Path) -> None:
    cfg = AppConfig(data_dir=tmp_path / "data")
    finding = {"timestamp": "2023-11-14T22:15:00.000000+0000", "event_type": "finding",
               "src_ip": CLIENT, "dest_ip": None, "src_mac": l2.mac(3),
               "finding": {"type": "arp-spoofing", "severity": 1}}  # fmt: skip
    eid = store_event(cfg, finding, b"nothing")
    store = open_store(cfg.store_path, readonly=True)
    try:
        with pytest.raises(CaptureError, match="pcap ring"):
            dissect_event(cfg, store, eid)
    finally:
        store.close()


def test_display_filters_take_only_validated_values() -> None:
    record = {"timestamp": "2023-11-14T22:15:00.000000+0000", "src_ip": "2001:db8::1",
              "dest_ip": "192.0.2.1) || (1", "proto": "UDP", "src_port": 5353,
              "dest_port": "53; rm"}  # fmt: skip
    since, until = time_range(record)
    assert until - since == 360.0
    assert display_filter(record, since, until).endswith(
        "&& ipv6.addr == 2001:db8::1 && udp.port == 5353")
    finding = {"timestamp": "2023-11-14T22:15:00.000000+0000", "src_mac": "02:00:00:00:00:01",
               "finding": {"type": "name-poisoning", "evidence": {
                   "first_seen": "2023-11-14T22:14:00.000000+0000",
                   "last_seen": "2023-11-14T22:15:00.000000+0000"}}}  # fmt: skip
    since, until = time_range(finding)
    assert (since, until) == (l2.T0 + 40 - 1, l2.T0 + 100 + 1)
    assert display_filter(finding, since, until).endswith(
        "&& eth.addr == 02:00:00:00:00:01 && (llmnr || nbns || mdns)")
