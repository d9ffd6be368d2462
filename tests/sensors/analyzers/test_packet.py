"""The packet analyzers' registry, their error-isolating set and shared helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from appliance.config import AppConfig
from appliance.events import parse_timestamp
from sensors.analyzers.packet import (
    PACKET_ANALYZERS,
    ArpClaim,
    PacketAnalyzerSet,
    dhcp_options,
    eve_timestamp,
    load_packet_analyzers,
)
from tests.helpers import l2


class _Broken:
    name = "broken"

    def init(self) -> None:
        pass

    def process(self, packets: Sequence[Any]) -> list[bytes]:
        raise ValueError("bug")

    def shutdown(self) -> list[bytes]:
        return [b"{}"]


def test_every_registered_analyzer_has_a_config_section_and_loads() -> None:
    loaded = load_packet_analyzers(AppConfig())
    assert sorted(a.name for a in loaded.analyzers) == sorted(PACKET_ANALYZERS)
    off = AppConfig(analyzers={"arp_spoof": {"enabled": False}})  # type: ignore[arg-type]
    assert "arp_spoof" not in {a.name for a in load_packet_analyzers(off).analyzers}


def test_a_failing_analyzer_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    analyzers = PacketAnalyzerSet([_Broken()])
    ack = l2.dhcp_reply("ack", "192.0.2.2", l2.mac(2), l2.mac(3), "192.0.2.9", router="192.0.2.1")
    assert analyzers.process(l2.dissected(l2.timed([ack]))) == []
    assert analyzers.process([]) == [] and analyzers.errors == {"broken": 1}
    assert analyzers.shutdown() == [b"{}"]
    assert "analyzer=broken method=process" in caplog.text


def test_packet_times_become_eve_timestamps() -> None:
    assert eve_timestamp(1_700_000_000.25) == "2023-11-14T22:13:20.250000+0000"
    assert parse_timestamp(eve_timestamp(l2.T0 + 0.000001)) == int(l2.T0) * 1_000_000 + 1


def test_dhcp_options_by_name() -> None:
    (reply,) = l2.dissected(l2.timed([l2.dhcp_reply("ack", "192.0.2.2", l2.mac(2), l2.mac(3),
                                                    "192.0.2.9", router="192.0.2.1")]))
    assert not isinstance(reply, ArpClaim)
    options = dhcp_options(reply)
    assert options["message-type"] == (5,) and options["router"] == ("192.0.2.1",)
    # An ARP packet as scapy dissects it (live capture) has none.
    assert dhcp_options(l2.timed([l2.arp(1, l2.mac(1), "192.0.2.1", "192.0.2.2")])[0]) == {}


class _Recorder:
    def __init__(self, name: str, reads_arp_claims: bool) -> None:
        self.name, self.reads_arp_claims = name, reads_arp_claims
        self.seen: list[Any] = []

    def init(self) -> None:
        pass

    def process(self, packets: Sequence[Any]) -> list[bytes]:
        self.seen.extend(packets)
        return []

    def shutdown(self) -> list[bytes]:
        return []


def test_arp_read_from_its_bytes_reaches_only_the_analyzers_that_read_claims() -> None:
    arp = l2.arp(2, l2.mac(1), "192.0.2.1", "192.0.2.2", hwdst=l2.mac(2), dst=l2.mac(2))
    frames = l2.timed([arp, l2.dhcp_reply("ack", "192.0.2.2", l2.mac(2), l2.mac(3), "192.0.2.9",
                                         router="192.0.2.1")])  # fmt: skip
    claims, scapy_only = _Recorder("claims", True), _Recorder("scapy", False)
    PacketAnalyzerSet([claims, scapy_only]).process(l2.dissected(frames))
    assert claims.seen[0] == ArpClaim(l2.T0, 2, l2.mac(1), "192.0.2.1", "192.0.2.2")
    assert len(claims.seen) == 2 and scapy_only.seen == claims.seen[1:]
    assert dhcp_options(scapy_only.seen[0])["message-type"] == (5,)
    # Nothing but ARP: the others are not called at all.
    scapy_only.seen.clear()
    PacketAnalyzerSet([scapy_only]).process(l2.dissected(l2.timed([arp])))
    assert scapy_only.seen == []
