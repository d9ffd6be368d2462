"""The `spanwatch demo-capture OUT` command."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone
from pathlib import Path

from sensors.demo.capture import DemoSummary, write_demo_capture

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of demo-capture."""
    parser = argparse.ArgumentParser(
        prog="spanwatch demo-capture",
        description="Write a deterministic demo pcap of a small data center, attacks included.",
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="pcap file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument(
        "--minutes", type=int, default=30, help="capture length in minutes (default: 30)"
    )
    return parser


def format_summary(summary: DemoSummary) -> str:
    """Return a human-readable report of a written capture."""
    began = datetime.fromtimestamp(summary.start, tz=timezone.utc).isoformat()
    lines = [
        f"Wrote {summary.packets} packets to {summary.path} "
        f"(seed {summary.seed}, {summary.duration:.0f} s from {began}).",
        "",
        "Attacks:",
    ]
    for item in summary.attacks:
        offset = item.first_seen - summary.start
        lines.append(
            f"  {item.name:20} +{offset:6.0f} s  {item.attacker} -> {item.victim} "
            f"({item.packets} packets)"
        )
        lines += [f"      - {indicator}" for indicator in item.indicators]
    lines += ["", "Ordinary traffic:"]
    for item in summary.scenarios:
        if not item.is_attack:
            lines.append(f"  {item.name:20} {item.packets:6d} packets  {item.indicators[0]}")
    return "\n".join(lines)


def main_demo_capture(argv: list[str] | None = None) -> int:
    """Parse argv, write the demo capture and print its summary."""
    args = build_parser().parse_args(argv)
    if args.minutes < 1:
        build_parser().error("--minutes must be at least 1")
    summary = write_demo_capture(args.out, seed=args.seed, minutes=args.minutes)
    print(format_summary(summary))
    return 0
