"""The per-flow step: flows summed per minute and key, long flows spread over their minutes."""

from __future__ import annotations

from appliance.traffic.aggregate import compound, spread
from appliance.traffic.settings import MINUTE
from tests.helpers.analysis import synthetic_records

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def _flow(start: str, end: str, *, src: str = "10.0.0.5", dest: str = "203.0.113.9",
          bts: int = 1000, btc: int = 5000, app: str | None = "tls") -> dict:
    record = {"timestamp": end, "event_type": "flow", "src_ip": src, "src_port": 50000,
              "dest_ip": dest, "dest_port": 443, "proto": "TCP",
              "flow": {"pkts_toserver": 10, "pkts_toclient": 20, "bytes_toserver": bts,
                       "bytes_toclient": btc, "start": start, "end": end}}
    if app:
        record["app_proto"] = app
    return record


def test_a_flow_of_ten_minutes_is_spread_over_ten_minute_buckets() -> None:
    parts = spread(T0, T0 + 10 * MINUTE, [600_001, 10])
    assert [minute for minute, _ in parts] == [T0 + i * MINUTE for i in range(10)]
    assert sum(s[0] for _, s in parts) == 600_001
    assert sum(s[1] for _, s in parts) == 10
    assert all(60_000 <= s[0] <= 60_001 for _, s in parts)


def test_shares_follow_the_time_spent_in_each_minute() -> None:
    # 15 s in the first minute, 60 s in the second, 5 s in the third: 80 s in all.
    start = T0 + 45 * 1_000_000
    parts = spread(start, start + 80 * 1_000_000, [8000])
    assert [s[0] for _, s in parts] == [1500, 6000, 500]


def test_a_flow_within_one_minute_stays_in_it() -> None:
    assert spread(T0 + 5, T0 + 50 * 1_000_000, [7]) == [(T0, [7])]
    assert spread(T0 + 5, T0 + 5, [7]) == [(T0, [7])]


def test_a_flow_ending_before_it_started_lands_in_its_end_minute() -> None:
    assert spread(T0 + 3 * MINUTE, T0 + MINUTE + 1, [7]) == [(T0 + MINUTE, [7])]


def test_a_flow_of_weeks_is_spread_over_its_last_week_and_keeps_every_byte() -> None:
    parts = spread(T0, T0 + 30 * 1440 * MINUTE, [10**9])
    assert len(parts) == 7 * 1440
    assert sum(s[0] for _, s in parts) == 10**9


def test_compound_sums_flows_per_minute_and_key_and_counts_a_flow_once() -> None:
    records = synthetic_records([
        _flow("2026-01-01T00:00:05.000000+0000", "2026-01-01T00:00:10.000000+0000"),
        _flow("2026-01-01T07:00:20.000000+0700", "2026-01-01T07:00:30.000000+0700"),
        _flow("2026-01-01T00:00:30.000000+0000", "2026-01-01T00:03:30.000000+0000",
              app=None),
    ])  # fmt: skip
    rows = compound(r.head for r in records)
    key = (T0, "", "tls", 6, 443, "10.0.0.5", "203.0.113.9")
    assert rows[key] == [2000, 10000, 20, 40, 2]
    spread_rows = {k: v for k, v in rows.items() if k[2] == "unknown"}
    assert [k[0] for k in sorted(spread_rows)] == [T0 + i * MINUTE for i in range(4)]
    assert sum(v[0] for v in spread_rows.values()) == 1000
    assert sum(v[1] for v in spread_rows.values()) == 5000
    assert sum(v[4] for v in spread_rows.values()) == 1  # counted where it started
    assert spread_rows[(T0, "", "unknown", 6, 443, "10.0.0.5", "203.0.113.9")][4] == 1


def test_compound_skips_flow_records_without_a_flow_object() -> None:
    records = synthetic_records([{"timestamp": "2026-01-01T00:00:00+0000",
                                  "event_type": "flow", "src_ip": "10.0.0.1"}])
    assert compound(r.head for r in records) == {}


def test_a_flow_with_a_malformed_start_or_end_counts_in_its_record_minute() -> None:
    # EVE from any producer may carry garbage where a time belongs: the flow still counts,
    # and nothing stops the batch.
    bad = _flow("yesterday", "2026-01-01T00:05:10.000000+0000")
    worse = _flow("2026-01-01T00:01:00.000000+0000", "soon", src="10.0.0.6")
    worse["timestamp"] = "2026-01-01T00:09:00.000000+0000"
    rows = compound(r.head for r in synthetic_records([bad, worse]))
    assert rows == {
        (T0 + 5 * MINUTE, "", "tls", 6, 443, "10.0.0.5", "203.0.113.9"): [1000, 5000, 10, 20, 1],
        (T0 + 9 * MINUTE, "", "tls", 6, 443, "10.0.0.6", "203.0.113.9"): [1000, 5000, 10, 20, 1],
    }


def test_a_flow_with_odd_counters_is_stored_but_not_counted() -> None:
    # Only the store's indexed fields can make a record malformed; the rollup skips a flow
    # whose packet counts it cannot add.
    odd = _flow("2026-01-01T00:00:05.000000+0000", "2026-01-01T00:00:10.000000+0000")
    odd["flow"]["pkts_toserver"] = "many"
    odd["app_proto"] = ["not", "a", "name"]
    absurd = _flow("2026-01-01T00:00:05.000000+0000", "2026-01-01T00:00:10.000000+0000")
    absurd["flow"]["pkts_toclient"] = 2**60  # no link carries that many; sums would overflow
    negative = _flow("2026-01-01T00:00:05.000000+0000", "2026-01-01T00:00:10.000000+0000")
    negative["flow"]["pkts_toserver"] = -5
    records = synthetic_records([odd, absurd, negative])
    assert len(records) == 3
    assert compound(r.head for r in records) == {}


def test_compound_counts_flow_records_only() -> None:
    # Alerts carry the flow's counters so far: counting them would count the flow twice.
    alert = _flow("2026-01-01T00:00:05.000000+0000", "2026-01-01T00:00:10.000000+0000")
    alert["event_type"] = "alert"
    assert compound(r.head for r in synthetic_records([alert])) == {}


def test_the_rollups_spreading_of_a_flow_is_spread_exactly() -> None:
    """compound() spreads a flow's four sums without spread()'s lists; the shares must be
    spread()'s, minute by minute, and the flow counted once, in its first minute."""
    import random

    from appliance.traffic.aggregate import MAX_SPAN, _spread_into

    rnd = random.Random(7)
    cases = [(T0, T0 + 10 * MINUTE), (T0 + 45_000_000, T0 + 125_000_000),
             (T0 + 3 * MINUTE, T0 + MINUTE + 1), (T0 + 5, T0 + 5), (T0, T0 + MAX_SPAN + 90),
             (T0 + 1, T0 + MINUTE), (T0 + 1, T0 + MINUTE + 1)]  # fmt: skip
    cases += [(a, a + rnd.randrange(1, 500 * MINUTE))
              for a in (T0 + rnd.randrange(10**9) for _ in range(200))]  # fmt: skip
    for start, end in cases:
        values = [rnd.randrange(10**12) for _ in range(4)]
        out: dict = {}
        _spread_into(out, ("k",), start, end, *values)
        expected = spread(start, end, values)
        assert [(k[0], v[:4]) for k, v in out.items()] == expected, (start, end)
        assert [v[4] for v in out.values()] == [1] + [0] * (len(expected) - 1)
