"""Benchmark: ``spanwatch analyze`` wall time against ``suricata -r`` alone.

    python bench/analyze.py [--repeat 3] [--et-open]

Both run the same Suricata configuration (the one analyze renders) on the same capture
and rules; the baseline writes eve.json and stops, analyze also ingests every event into
a fresh store, runs the analyzers, the rollups and the inventory, and summarizes.
Captures: the smallest of the corpus (what analyze costs beyond Suricata whatever the
capture: start-up and finishing), the largest public capture of the corpus (a SYN flood:
many flows), and two from the project's traffic generator, four hours and a day long.
Each line gives the median wall time and the CPU time (all processes) of both. Target:
at most 1.3x. Run it after ``make venv``, which compiles the modules to bytecode as an
installed appliance has them (else, where ``__pycache__`` may not be written, every run
compiles what it imports: about 0.1 s more per analysis).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline_seconds(capture: Path, rules: list[Path], work: Path) -> tuple[float, float]:
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
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def analyze_seconds(capture: Path, rules: list[Path], work: Path) -> tuple[float, float]:
    """The whole ``spanwatch analyze`` command, as a user runs it."""
    spanwatch = Path(sys.executable).with_name("spanwatch")
    argv = [str(spanwatch), "analyze", "-q", "--json", "--checksum", "none",
            "--data-dir", str(work / "sw")] + [a for r in rules for a in ("--rules", str(r))]
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(argv + [str(capture)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


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
    corpus = sorted(testdata().glob("pcaps/*/*.pcap*"), key=lambda p: p.stat().st_size)
    captures = [corpus[0], testdata() / "pcaps" / "dos" / "stopddos_pkt.TCP.synflood.spoofed.pcap",
                demo_capture(240), demo_capture(1440)]  # fmt: skip
    for capture in captures:
        base: list[tuple[float, float]] = []
        mine: list[tuple[float, float]] = []
        lines = 0
        load = os.getloadavg()[0]
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
                base.append(baseline_seconds(capture, rules, Path(tmp)))
                lines = eve_lines(Path(tmp))
                mine.append(analyze_seconds(capture, rules, Path(tmp)))
        b, m = statistics.median(w for w, _ in base), statistics.median(w for w, _ in mine)
        b_cpu, m_cpu = statistics.median(c for _, c in base), statistics.median(c for _, c in mine)
        print(f"{capture.name}: {lines:,} EVE lines; suricata -r alone {b:6.2f} s "
              f"({b_cpu:.2f} CPU-s); spanwatch analyze {m:6.2f} s ({m_cpu:.2f} CPU-s); "
              f"ratio {m / b:.2f}x (target <= 1.3x); load {load:.1f}-{os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
