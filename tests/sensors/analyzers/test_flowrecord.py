"""Flow records as the flow analyzers read them, and how a connection attempt ended."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from appliance.events import decode_line
from sensors.analyzers.flowrecord import attempt_failed, decode_flow

START = "2024-05-01T10:00:00.250000+0000"


def record(
    proto: str = "TCP", flags: tuple[str, str] | None = ("02", "00"),
    pkts: tuple[int, int] = (1, 0), state: str = "new", **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {
        "timestamp": "2024-05-01T10:05:00.000000+0000", "flow_id": 7, "event_type": "flow",
        "src_ip": "192.0.2.1", "src_port": 40000, "dest_ip": "198.51.100.2", "dest_port": 80,
        "proto": proto, "community_id": "1:abc=",
        "flow": {"pkts_toserver": pkts[0], "pkts_toclient": pkts[1], "bytes_toserver": 60,
                 "bytes_toclient": 0, "start": START, "end": "2024-05-01T10:00:01.000000+0000",
                 "state": state, "reason": "timeout", "alerted": False},
    }  # fmt: skip
    if flags is not None:
        data["tcp"] = {"tcp_flags": flags[0], "tcp_flags_ts": flags[0], "tcp_flags_tc": flags[1]}
    data.update(extra)
    return data


def decoded(data: dict[str, Any]) -> Any:
    return decode_flow(decode_line(orjson.dumps(data), id(data)))


def test_event_time_is_the_flows_start_not_the_record_timestamp() -> None:
    flow = decoded(record())
    assert flow.start_us == 1_714_557_600_250_000
    assert flow.end == "2024-05-01T10:00:01.000000+0000" and flow.end_us > flow.start_us
    assert (flow.flags_ts, flow.flags_tc, flow.counts.pkts_toserver) == (2, 0, 1)


@pytest.mark.parametrize("change", [
    {"flow": {"pkts_toserver": 1}},  # no start time
    {"flow": {"start": "yesterday"}},
    {"proto": 253},  # a protocol number: no analyzer wants it
    {"src_ip": None},
    {"flow": {"start": START, "pkts_toserver": "many"}},
])  # fmt: skip
def test_flows_without_usable_fields_are_skipped(change: dict[str, Any]) -> None:
    assert decoded(record() | change) is None


def test_the_same_record_is_decoded_once_for_every_analyzer() -> None:
    line = decode_line(orjson.dumps(record()), 12345)
    assert decode_flow(line) is decode_flow(line)


@pytest.mark.parametrize(("flow", "failed"), [
    (record(), True),  # a SYN nobody answered
    (record(flags=("02", "14"), pkts=(1, 1), state="closed"), True),  # refused: RST/ACK
    (record(flags=("06", "12"), pkts=(2, 1), state="closed"), True),  # half-open, reset
    (record(flags=("16", "12"), pkts=(3, 1), state="closed"), True),  # connect() and reset
    (record(flags=("1b", "1b"), pkts=(6, 5), state="closed"), False),  # a session
    (record(flags=("10", "04"), pkts=(1, 1), state="closed"), True),  # ACK probe reset
    (record(flags=("18", "18"), pkts=(9, 8), state="established"), False),  # mid-stream
    (record(flags=("10", "00"), pkts=(1, 0)), None),  # a lone ACK: no telling
    (record(flags=("00", "00"), pkts=(1, 1)), True),  # NULL/FIN/Xmas probe answered by RST
    (record(flags=("00", "00"), pkts=(1, 0)), None),  # a stray RST (backscatter)
    (record(flags=("00", "12"), pkts=(0, 1)), None),  # SYN/ACK to a spoofed address
    (record("UDP", None, (1, 0)), True),
    (record("UDP", None, (1, 1)), True),  # an ICMP unreachable joins the flow, state "new"
    (record("UDP", None, (1, 1), "established"), False),
    (record("ICMP", None, (1, 0), icmp_type=8), True),
    (record("ICMP", None, (1, 1), "established", icmp_type=8), False),
    (record("ICMP", None, (1, 0), icmp_type=3), None),  # an error, not a probe
])  # fmt: skip
def test_how_an_attempt_ended(flow: dict[str, Any], failed: bool | None) -> None:
    assert attempt_failed(decoded(flow)) is failed
