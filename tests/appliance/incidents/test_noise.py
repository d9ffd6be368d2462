"""Engine noise by signature class, and suppressions matched by kind and address."""

from __future__ import annotations

from typing import Any

from appliance.config_incidents import IncidentsConfig
from appliance.incidents.classifier import HomeNet, observe
from appliance.incidents.model import Suppression
from appliance.incidents.noise import EngineNoise, SuppressionSet, parse_cidr
from tests.helpers.incident_store import alert, finding

HOME = HomeNet(["10.0.0.0/8"])


def _sup(id: int, **kw: Any) -> Suppression:
    base: dict[str, Any] = dict(sid=None, finding_type=None, src=None, dest=None, reason="r",
                                expires_at=None, created_by="an", created_at=0)  # fmt: skip
    base.update(kw)
    return Suppression(id=id, **base)


def test_suricata_engine_events_are_noise_by_class_not_by_capture() -> None:
    noise = EngineNoise(IncidentsConfig())
    for sid in (2200073, 2200074, 2210045, 2260002, 2221000):  # checksum, stream, app-layer
        assert noise.is_noise_sid(sid)
    assert not noise.is_noise_sid(2230013)  # TLS heartbeat overflow (Heartbleed) is kept
    assert not noise.is_noise_sid(2019284) and not noise.is_noise_sid(9000012)
    assert not EngineNoise(IncidentsConfig(engine_noise=False)).is_noise_sid(2200074)
    custom = EngineNoise(IncidentsConfig(noise_sid_ranges=[[9000000, 9000099]], keep_sids=[]))
    assert custom.is_noise_sid(9000012) and not custom.is_noise_sid(2200074)


def test_suppressions_match_their_kind_and_addresses_while_active() -> None:
    exploit = observe({**alert(0, "203.0.113.5", "10.0.0.9", 2019284, "ET EXPLOIT X"),
                       "_id": 1}, HOME)  # fmt: skip
    scan = observe({**finding(0, "port-scan", "reconnaissance", "203.0.113.5", "10.0.0.9"),
                    "_id": 2}, HOME)  # fmt: skip
    assert exploit is not None and scan is not None
    sups = SuppressionSet([
        _sup(1, sid=2019284, src="198.51.100.0/24"),
        _sup(2, finding_type="port-scan", dest="10.0.0.0/24", expires_at=100),
        _sup(3, sid=2019284, dest="10.0.0.9/32", expires_at=50),
    ], now_us=60)  # fmt: skip
    assert sups.match(exploit) is None  # 1: other source; 3: expired
    matched = sups.match(scan)
    assert matched is not None and matched.id == 2
    by_host = SuppressionSet([_sup(4, src="203.0.113.0/24")], now_us=0)
    assert by_host.match(exploit) is not None and by_host.match(scan) is not None
    assert not SuppressionSet([], now_us=0)


def test_cidrs_are_canonical() -> None:
    assert parse_cidr(" 10.1.2.3 ") == "10.1.2.3/32"
    assert parse_cidr("10.1.2.3/8") == "10.0.0.0/8"
    assert parse_cidr("2001:db8::1") == "2001:db8::1/128"
    assert parse_cidr("") is None
