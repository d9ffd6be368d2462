"""Benchmark: correlating alerts and findings into incidents, beside merely reading them.

    python bench/correlate.py [--events 1000000] [--batches 20]

Fills a fresh store with ``--events`` alerts and findings (a day of a busy span port:
internet scanners, brute force, exploits, beaconing hosts, and engine noise, which is
40% of the alerts; alerts come in bursts of four on average, of the same signature between the
same two hosts), then measures in the same run:

- read: the store's own cursor read (``events_after_chunk``) of every alert and finding;
- correlate: ``Correlator.run_once()`` from scratch over the same records (it reads them
  too, so the ratio is the whole cost of correlation over reading);
- incremental: per batch of 1,000 new records, the read of that batch and a run.

Target: correlation <= 3x the read time, from scratch and per incremental batch.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.config import load_config  # noqa: E402
from appliance.events import decode_line  # noqa: E402
from appliance.incidents.correlate import Correlator  # noqa: E402
from appliance.service import Service  # noqa: E402
from appliance.store import EventStore, event_id  # noqa: E402

DAY_US = 86_400_000_000
START_US = 1_795_000_000_000_000
#: (sid, signature, classtype, severity, share of alerts)
SIGNATURES = [
    (2200074, "SURICATA TCPv4 invalid checksum", "Generic Protocol Command Decode", 3, 0.30),
    (2210045, "SURICATA STREAM Packet with invalid ack", "Generic Protocol Command Decode", 3,
     0.10),
    (2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2, 0.15),
    (2010935, "ET SCAN Suspicious inbound to MSSQL port 1433", "Potentially Bad Traffic", 2,
     0.10),
    (2024364, "ET SCAN Possible Nmap User-Agent Observed", "Web Application Attack", 1, 0.05),
    (2019284, "ET EXPLOIT Possible CVE-2014-6271 Attempt", "Attempted Administrator Privilege "
     "Gain", 1, 0.05),
    (2013028, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak", 3, 0.15),
    (2027865, "ET INFO Observed DNS Query to .cloud TLD", "Misc activity", 3, 0.05),
    (2018959, "ET MALWARE Possible Dridex Check-in", "A Network Trojan was detected", 1, 0.05),
]  # fmt: skip
FINDINGS = [("port-scan", "reconnaissance"), ("brute-force", "credential-access"),
            ("beaconing", "command-and-control"), ("dns-exfiltration", "exfiltration"),
            ("syn-flood", "impact"), ("cleartext-credentials", "policy")]  # fmt: skip


class Generator:
    """Deterministic synthetic alerts and findings."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.outside = [f"203.0.{i // 250}.{i % 250 + 1}" for i in range(2000)]
        self.inside = [f"10.{i // 250}.{(i * 7) % 250}.{i % 250 + 1}" for i in range(800)]
        self.weights = [s[4] for s in SIGNATURES]
        self._burst: dict[str, Any] | None = None

    def _pick(self, hosts: list[str]) -> str:
        """A few hosts make most of the alerts (busy scanners, a few exposed servers)."""
        return hosts[int(len(hosts) * self.rng.random() ** 3)]

    def record(self, ts_us: int) -> dict[str, Any]:
        """The next record: alerts come in bursts (a scan, a flood of checksum errors on
        one flow, a brute force), on average four of the same kind between two hosts."""
        if self._burst and self.rng.random() < 0.75:
            last = self._burst
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_us / 1e6))
            return {**last, "timestamp": stamp + f".{ts_us % 1_000_000:06d}+0000",
                    "flow_id": self.rng.randrange(1, 2**50)}  # fmt: skip
        self._burst = self._fresh(ts_us)
        return self._burst

    def _fresh(self, ts_us: int) -> dict[str, Any]:
        rng = self.rng
        when = ts_us / 1e6
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
        stamp += f".{ts_us % 1_000_000:06d}+0000"
        if rng.random() < 0.1:
            kind, category = rng.choice(FINDINGS)
            src, dest = self._pick(self.outside), self._pick(self.inside)
            if category in ("command-and-control", "exfiltration"):
                src, dest = dest, self._pick(self.outside)
            return {"timestamp": stamp, "event_type": "finding", "src_ip": src,
                    "dest_ip": dest, "finding": {"type": kind, "category": category,
                                                 "severity": rng.choice((1, 2, 2, 3)),
                                                 "confidence": 0.8, "evidence": {}}}  # fmt: skip
        sid, msg, classtype, severity, _ = rng.choices(SIGNATURES, self.weights)[0]
        src, dest = self._pick(self.outside), self._pick(self.inside)
        if sid in (2200074, 2210045, 2013028, 2027865, 2018959):
            src, dest = dest, self._pick(self.outside)
        return {"timestamp": stamp, "event_type": "alert", "src_ip": src, "dest_ip": dest,
                "src_port": rng.randrange(1024, 65535), "dest_port": 443, "proto": "TCP",
                "flow_id": rng.randrange(1, 2**50),
                "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                          "signature": msg, "category": classtype, "severity": severity}}


def fill(store: EventStore, gen: Generator, n: int, start_us: int, span_us: int,
         offset: int, batch: int = 5000) -> int:  # fmt: skip
    """Store ``n`` records spread over ``span_us``; the next free offset."""
    source = store.source_id(hashlib.sha256(b"bench-correlate").digest(), "/bench/correlate")
    done = 0
    while done < n:
        size = min(batch, n - done)
        records = []
        for i in range(size):
            ts = start_us + (done + i) * span_us // max(n, 1)
            raw = orjson.dumps(gen.record(ts))
            records.append(decode_line(raw, event_id(source, offset)))
            offset += len(raw) + 1
        store.add_events(records, "bench")
        done += size
    return offset


def read_all(store: EventStore, after: int) -> tuple[float, int, int]:
    """(seconds, records, last chunk) to read every alert after chunk ``after``."""
    start = time.perf_counter()
    n = 0
    cursor = after
    while True:
        upto, records = store.events_after_chunk(cursor, kind="alerts", max_chunks=16)
        if upto == cursor:
            break
        n += len(records)
        cursor = upto
    return time.perf_counter() - start, n, cursor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-correlate-") as tmp:
        config = Path(tmp) / "appliance.yaml"
        config.write_text(yaml.safe_dump({"data_dir": str(Path(tmp) / "data"),
                                          "networks": {"home": ["10.0.0.0/8"]}}))  # fmt: skip
        service = Service(load_config(config))
        gen = Generator()
        t0 = time.perf_counter()
        offset = fill(service.store, gen, args.events, START_US, DAY_US, 1)
        print(f"Stored {args.events:,} alerts and findings in {time.perf_counter() - t0:.1f} s.")
        read_s, n, cursor = read_all(service.store, 0)
        t0 = time.perf_counter()
        result = Correlator(service).run_once()
        corr_s = time.perf_counter() - t0
        print(f"From scratch: read {n:,} in {read_s:.2f} s; correlate {corr_s:.2f} s "
              f"({corr_s / read_s:.2f}x the read; target <= 3x): {len(result.new):,} "
              f"incidents, {result.noise:,} engine noise.")  # fmt: skip
        reads, runs = [], []
        correlator = Correlator(service)
        correlator.run_once()
        for i in range(args.batches):
            offset = fill(service.store, gen, 1000, START_US + DAY_US + i * 60_000_000,
                          60_000_000, offset, batch=1000)  # fmt: skip
            secs, _, cursor = read_all(service.store, cursor)
            reads.append(secs)
            t0 = time.perf_counter()
            correlator.run_once()
            runs.append(time.perf_counter() - t0)
        read_ms, run_ms = statistics.median(reads) * 1e3, statistics.median(runs) * 1e3
        print(f"Incremental batch of 1,000 (median of {args.batches}): read {read_ms:.1f} ms; "
              f"correlate {run_ms:.1f} ms ({run_ms / read_ms:.2f}x the read; target <= 3x).")
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
