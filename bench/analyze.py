"""Benchmark: ``spanwatch analyze`` wall time against ``suricata -r`` alone.

    python bench/analyze.py [--repeat 3] [--et-open]

Both run the same Suricata configuration (the one analyze renders) on the same capture
and rules; the baseline writes eve.json and stops, analyze also ingests every event into
a fresh store and summarizes. Captures: the largest public capture of the corpus (a SYN
flood: many flows) and a long capture from the project's traffic generator. Target: at
most 1.3x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evefile import CACHE, REPO, testdata  # noqa: E402


def demo_capture(minutes: int) -> Path:
    """A long generated capture (cached)."""
    from sensors.demo import write_demo_capture

    path = CACHE / f"demo-{minutes}min.pcap"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        write_demo_capture(path.with_suffix(".partial"), minutes=minutes)
        path.with_suffix(".partial").rename(path)
    return path


def baseline_seconds(capture: Path, rules: list[Path], work: Path) -> float:
    """``suricata -r`` with the configuration analyze would render."""
    from appliance.config import load_config
    from appliance.suricata import command, render

    overrides = {"data_dir": str(work / "data"), "suricata.pcap_ring.enabled": False}
    cfg = load_config(None, overrides=overrides, environ={})
    out = work / "suricata"
    for sub in ("", render.PCAP_DIR, render.FILES_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    config = render.write_suricata_config(out / "suricata.yaml", cfg, log_dir=out,
                                          rule_files=rules)  # fmt: skip
    argv = command.offline_argv(cfg.suricata.binary, config, capture, out,
                                runmode="single") + ["-k", "none"]  # as analyze runs it
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def analyze_seconds(capture: Path, rules: list[Path], work: Path) -> float:
    """The whole ``spanwatch analyze`` command, as a user runs it."""
    spanwatch = Path(sys.executable).with_name("spanwatch")
    argv = [str(spanwatch), "analyze", "-q", "--json", "--checksum", "none",
            "--data-dir", str(work / "sw")] + [a for r in rules for a in ("--rules", str(r))]
    start = time.perf_counter()
    subprocess.run(argv + [str(capture)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def eve_lines(work: Path) -> int:
    """EVE lines the baseline wrote."""
    with open(work / "suricata" / "eve.json", "rb") as fh:
        return sum(1 for _ in fh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--et-open", action="store_true", help="all of ET Open (slow to load)")
    args = parser.parse_args()
    rules = [REPO / "config" / "rules" / "local.rules"]
    if args.et_open:
        rules = sorted((testdata() / "rules" / "et-open").glob("*.rules")) + rules
    captures = [testdata() / "pcaps" / "dos" / "stopddos_pkt.TCP.synflood.spoofed.pcap",
                demo_capture(240)]  # fmt: skip
    for capture in captures:
        base, mine, lines = [], [], 0
        load = os.getloadavg()[0]
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
                base.append(baseline_seconds(capture, rules, Path(tmp)))
                lines = eve_lines(Path(tmp))
                mine.append(analyze_seconds(capture, rules, Path(tmp)))
        b, m = statistics.median(base), statistics.median(mine)
        print(f"{capture.name}: {lines:,} EVE lines; suricata -r alone {b:6.2f} s; "
              f"spanwatch analyze {m:6.2f} s; ratio {m / b:.2f}x (target <= 1.3x); "
              f"load {load:.1f}-{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
