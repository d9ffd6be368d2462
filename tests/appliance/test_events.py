"""Decoding EVE lines: real Suricata output, timestamps, every dead-letter reason, keys."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance import events
from appliance.config import AppConfig
from appliance.events import (
    KIND_ALERTS,
    KIND_METADATA,
    EveDecodeError,
    community_key,
    decode_line,
    make_finding,
    pack_ip,
    parse_timestamp,
    proto_number,
    unpack_ip,
)
from appliance.suricata import command, render

CAPTURE = "pcaps/dns-tunneling/ndpi_dns-tunnel-iodine.pcap"
SID = 9_100_001
RULE = (
    'alert dns any any -> any any (msg:"SPANWATCH TEST DNS query to pirate.sea"; '
    'dns.query; content:"pirate.sea"; nocase; classtype:bad-unknown; sid:9100001; rev:3;)\n'
)
GOOD_TS = "2024-05-01T12:00:00.123456+0000"


@pytest.fixture(scope="session")
def real_eve(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path, suricata_bin: str
) -> list[bytes]:
    """EVE lines of the real Suricata over an iodine DNS tunnel capture, with one rule."""
    out = tmp_path_factory.mktemp("eve")
    rules = out / "test.rules"
    rules.write_text(RULE, encoding="utf-8")
    cfg = AppConfig.model_validate(
        {"sensor": {"name": "events-test"}, "suricata": {"binary": suricata_bin}}
    )
    config = render.write_suricata_config(
        out / "suricata.yaml", cfg, log_dir=out, rule_files=[rules]
    )
    argv = command.offline_argv(suricata_bin, config, testdata / CAPTURE, out, runmode="single")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (out / "eve.json").read_bytes().splitlines()
    assert lines, "Suricata wrote no EVE records"
    return lines


def _first(lines: list[bytes], event_type: str) -> tuple[bytes, dict[str, Any]]:
    for line in lines:
        data = json.loads(line)
        if data["event_type"] == event_type:
            return line, data
    raise AssertionError(f"no {event_type} record in the EVE output")


def _reference_us(timestamp: str) -> int:
    """UTC microseconds by the standard library, as an independent check."""
    parsed = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    delta = parsed - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta // dt.timedelta(microseconds=1)


def _line(**fields: Any) -> bytes:
    return json.dumps({"timestamp": GOOD_TS, "event_type": "dns", **fields}).encode()


# -- real Suricata EVE ----------------------------------------------------------------------


@pytest.mark.suricata
def test_every_real_line_decodes_with_its_exact_time(real_eve: list[bytes]) -> None:
    types = set()
    for number, line in enumerate(real_eve):
        record = decode_line(line, number)
        data = json.loads(line)
        types.add(record.head.event_type)
        assert record.id == number
        assert record.raw == line
        assert record.data == data
        assert record.ts == _reference_us(data["timestamp"])
    assert {"alert", "dns", "flow"} <= types


@pytest.mark.suricata
def test_real_alert_carries_signature_and_severity(real_eve: list[bytes]) -> None:
    line, data = _first(real_eve, "alert")
    record = decode_line(line, 7)
    alert = record.head.alert
    assert alert is not None
    assert (alert.signature_id, alert.gid, alert.rev) == (SID, 1, 3)
    assert alert.signature == "SPANWATCH TEST DNS query to pirate.sea"
    assert alert.category == "Potentially Bad Traffic"
    assert alert.severity == record.severity == 2
    assert record.kind == KIND_ALERTS
    assert (record.head.src_ip, record.head.dest_ip) == (data["src_ip"], data["dest_ip"])
    assert record.head.dest_port == 53
    assert record.head.flow_id == data["flow_id"]
    assert record.head.host == "events-test"


@pytest.mark.suricata
def test_real_flow_and_dns_are_metadata_of_the_same_flow(real_eve: list[bytes]) -> None:
    flow_line, flow = _first(real_eve, "flow")
    dns_line, dns = _first(real_eve, "dns")
    flow_rec, dns_rec = decode_line(flow_line, 1), decode_line(dns_line, 2)
    for record in (flow_rec, dns_rec):
        assert record.kind == KIND_METADATA
        assert record.severity is None
        assert record.head.alert is None
        assert proto_number(record.head.proto) == 17
    assert flow_rec.head.flow_id == dns_rec.head.flow_id == flow["flow_id"]
    assert flow_rec.head.community_id == dns["community_id"]
    assert community_key(flow_rec.head.community_id) == community_key(dns_rec.head.community_id)
    assert flow_rec.data["flow"]["pkts_toserver"] == flow["flow"]["pkts_toserver"]


@pytest.mark.suricata
def test_real_stats_record_has_no_addresses(real_eve: list[bytes]) -> None:
    line, _ = _first(real_eve, "stats")
    record = decode_line(line, 3)
    assert (record.head.src_ip, record.head.dest_ip, record.head.flow_id) == (None, None, None)
    assert record.kind == KIND_METADATA


# -- timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T12:00:00.123456+0000",
        "2024-05-01T19:00:00.123456+0700",
        "2024-05-01T07:00:00.123456-0500",
        "2024-05-01T17:45:00.123456+0545",
    ],
)
def test_offsets_give_the_same_utc_instant(timestamp: str) -> None:
    expected = 1_714_564_800_123_456  # 2024-05-01T12:00:00.123456Z
    assert parse_timestamp(timestamp) == expected
    assert decode_line(_line(timestamp=timestamp), 0).ts == expected


@pytest.mark.parametrize(
    ("timestamp", "utc"),
    [
        ("2024-01-01T03:00:00.000001+0700", "2023-12-31T20:00:00.000001+0000"),
        ("2023-12-31T21:30:00.999999-0500", "2024-01-01T02:30:00.999999+0000"),
        ("2024-02-29T23:59:59.500000+0000", "2024-02-29T23:59:59.500000+0000"),
        ("1970-01-01T07:00:00.000000+0700", "1970-01-01T00:00:00.000000+0000"),
    ],
)
def test_offsets_cross_day_year_and_leap_day(timestamp: str, utc: str) -> None:
    assert parse_timestamp(timestamp) == _reference_us(utc)


@pytest.mark.parametrize(
    ("timestamp", "micros"),
    [
        ("2024-05-01T12:00:00.5+0000", 500_000),
        ("2024-05-01T12:00:00.000042+0000", 42),
        ("2024-05-01T12:00:00.1234567+0000", 123_456),
        ("2024-05-01T12:00:00Z", 0),
        ("2024-05-01T12:00:00.25Z", 250_000),
        ("2024-05-01T12:00:00", 0),
    ],
)
def test_fractions_and_utc_forms(timestamp: str, micros: int) -> None:
    assert parse_timestamp(timestamp) == 1_714_564_800_000_000 + micros


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-02-30T00:00:00.000000+0000",
        "2024-05-01T25:00:00.000000+0000",
        "2024-13-01T00:00:00.000000+0000",
        "2024/05/01T12:00:00.000000+0000",
        "2024-05-01T12:00:00.123",
        "2024-05-01T12:00:00.abcdef+0000",
        "yesterday",
        "",
    ],
)
def test_impossible_timestamps_are_bad_timestamp(timestamp: str) -> None:
    with pytest.raises(EveDecodeError) as info:
        decode_line(_line(timestamp=timestamp), 0)
    assert info.value.reason == "bad-timestamp"


def test_each_second_of_a_parsed_minute_is_read_and_checked() -> None:
    """The minute is parsed once; the seconds of every later stamp in it still count."""
    minute = "2024-05-01T19:00:{}.000001+0700"
    assert parse_timestamp(minute.format("00")) == 1_714_564_800_000_001
    assert parse_timestamp(minute.format("07")) == 1_714_564_807_000_001
    assert parse_timestamp(minute.format("59")) == 1_714_564_859_000_001
    for bad in ("60", "6x", "-1", " 7", "٠٧"):
        with pytest.raises(EveDecodeError, match="bad-timestamp"):
            parse_timestamp(minute.format(bad))


def _read(parse: Any, value: str) -> int | str:
    try:
        return int(parse(value))
    except EveDecodeError:
        return "bad-timestamp"


def test_suricata_form_reads_as_the_general_parser_reads_it_one_change_away() -> None:
    """Suricata's form takes a shortcut through datetime; every stamp one or two characters
    away from it is accepted, and read, or refused exactly as the general parser does."""
    stamps = ["2026-01-01T00:00:00.730147+0000", "2024-02-29T23:59:59.999999-0530",
              "2024-05-01 12:00:00.123456+0700"]  # fmt: skip
    changed = []
    for stamp in stamps:
        for i, char in itertools.product(range(len(stamp)), "09+-:.TZ _x,٣\t"):
            changed.append(stamp[:i] + char + stamp[i + 1 :])
        for i, j in itertools.combinations(range(len(stamp)), 2):
            for a, b in (("-", ":"), (":", "-"), ("T", " "), (".", ",")):
                changed.append(stamp[:i] + a + stamp[i + 1 : j] + b + stamp[j + 1 :])
    read = [_read(parse_timestamp, s) for s in stamps + changed]
    events._ts_cache.clear()
    events._minute_cache.clear()
    assert read == [_read(events._parse_any, s) for s in stamps + changed]
    assert read.count("bad-timestamp") > 1000 and len(set(read)) > 100


# -- every dead-letter reason -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"timestamp": "2024-05-01T12:00:00.000000+0000", "event_ty', "bad-json"),
        (b"", "bad-json"),
        (b"{'timestamp': 1}", "bad-json"),
        (b"\xff\xfe{}", "not-utf8"),
        (_line()[:-1] + b', "x": "caf\xe9"}', "not-utf8"),
        (_line()[:-1] + b', "src_ip": "192.0.2.\xff"}', "not-utf8"),
        (b"[1, 2]", "not-an-object"),
        (b'"alert"', "not-an-object"),
        (b"null", "not-an-object"),
        (b'{"event_type": "dns"}', "schema"),
        (b'{"timestamp": "2024-05-01T12:00:00.000000+0000"}', "schema"),
        (_line(src_port="https"), "schema"),
        (_line(flow_id=2**64), "schema"),
        # The store keeps a flow's byte count: one beyond 64 bits once stopped every batch.
        (_line(event_type="flow", flow={"bytes_toserver": 10**26, "bytes_toclient": 0}),
         "schema"),
        (_line(alert={"signature_id": "2100498"}), "schema"),
        (_line(timestamp=1714564800), "schema"),
        (_line(timestamp="2024-05-01 noon"), "bad-timestamp"),
    ],
)
def test_bad_lines_raise_with_a_stable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(EveDecodeError) as info:
        decode_line(raw, 0)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(reason)


def test_valid_utf8_outside_indexed_fields_is_kept() -> None:
    raw = _line(http={"hostname": "hà-nội.example.com", "url": "/tìm?q=café"})
    record = decode_line(raw, 0)
    assert record.data["http"]["hostname"] == "hà-nội.example.com"
    assert record.raw == raw


def test_unknown_fields_and_event_types_are_accepted() -> None:
    record = decode_line(_line(event_type="quic", quic={"version": 1}, vlan=[10, 20]), 0)
    assert record.head.event_type == "quic"
    assert record.kind == KIND_METADATA


def test_anomaly_and_drop_are_kept_with_alerts() -> None:
    assert decode_line(_line(event_type="anomaly"), 0).kind == KIND_ALERTS
    assert decode_line(_line(event_type="drop"), 0).kind == KIND_ALERTS


# -- addresses and keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size", "canonical"),
    [
        ("192.0.2.1", 4, "192.0.2.1"),
        ("203.0.113.255", 4, "203.0.113.255"),
        ("2001:db8::1", 16, "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", 16, "2001:db8::1"),
        ("::ffff:198.51.100.7", 16, "::ffff:198.51.100.7"),
    ],
)
def test_pack_ip_round_trips(text: str, size: int, canonical: str) -> None:
    packed = pack_ip(text)
    assert packed is not None and len(packed) == size
    assert unpack_ip(packed) == canonical


def test_v4_and_v6_never_share_a_key() -> None:
    assert pack_ip("192.0.2.1") != pack_ip("::192.0.2.1")
    assert pack_ip("192.0.2.1") != pack_ip("192.0.2.10")


@pytest.mark.parametrize(
    "text", ["300.1.2.3", "192.0.2", "192.0.2.1/24", "example.com", "2001:db8::g", "", "1.2.3.4 "]
)
def test_pack_ip_of_a_bad_address_is_none(text: str) -> None:
    assert pack_ip(text) is None


def test_missing_address_packs_and_unpacks_to_none() -> None:
    assert pack_ip(None) is None
    assert unpack_ip(None) is None


def test_community_key_groups_by_the_hash_prefix() -> None:
    one = community_key("1:inBZrK5f/00aKg7zX9WSuiURNI0=")
    same_prefix = community_key("1:inBZrK5fAAAAAAAAAAAAAAAAAAA=")
    other = community_key("1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    assert one is not None and other is not None
    assert one == same_prefix
    assert one != other
    # The store keeps it in a signed 64-bit column.
    assert 0 <= one < 2**63 and 0 <= other < 2**63


@pytest.mark.parametrize("value", [None, "", "1:short", "2:inBZrK5f/00aKg7zX9WSuiURNI0=", "abc"])
def test_community_key_of_no_or_unknown_version_is_none(value: str | None) -> None:
    assert community_key(value) is None


@pytest.mark.parametrize(
    ("proto", "number"),
    [("TCP", 6), ("UDP", 17), ("ICMP", 1), ("IPv6-ICMP", 58), ("sctp", 132), (47, 47),
     (None, None), ("NOT-A-PROTOCOL", None)],
)  # fmt: skip
def test_proto_number_from_names_and_numbers(proto: str | int | None, number: int | None) -> None:
    assert proto_number(proto) == number


# -- findings -------------------------------------------------------------------------------


def test_finding_round_trips_through_decode_line() -> None:
    raw = make_finding(
        type="port_scan",
        category="reconnaissance",
        severity=2,
        confidence=0.87654,
        timestamp="2024-05-01T19:00:00.000001+0700",
        src_ip="203.0.113.9",
        dest_ip="2001:db8::20",
        explanation={"en": "203.0.113.9 probed 120 ports.", "vi": "203.0.113.9 dò 120 cổng."},
        evidence={"ports": [22, 80, 443], "window_s": 60},
        flow_id=123456789,
        community_id="1:inBZrK5f/00aKg7zX9WSuiURNI0=",
    )
    record = decode_line(raw, 99)
    assert record.head.event_type == "finding"
    assert record.kind == KIND_ALERTS
    assert record.severity == 2
    assert record.ts == 1_714_564_800_000_001
    assert (record.head.src_ip, record.head.dest_ip) == ("203.0.113.9", "2001:db8::20")
    assert record.head.flow_id == 123456789
    assert record.head.finding is not None and record.head.finding.type == "port_scan"
    finding = record.data["finding"]
    assert finding["confidence"] == 0.877
    assert finding["explanation"]["vi"] == "203.0.113.9 dò 120 cổng."
    assert finding["evidence"] == {"ports": [22, 80, 443], "window_s": 60}
    assert finding["category"] == "reconnaissance"


def test_finding_without_addresses_decodes() -> None:
    raw = make_finding(
        type="capture_loss", category="sensor", severity=3, confidence=1.0,
        timestamp=GOOD_TS, src_ip=None, dest_ip=None, explanation={}, evidence={},
    )  # fmt: skip
    record = decode_line(raw, 0)
    assert (record.head.src_ip, record.head.dest_ip) == (None, None)
    assert record.severity == 3
