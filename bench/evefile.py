"""Build a large, realistic EVE file for benchmarks from real Suricata output.

Suricata runs once over the shared captures (with ET Open, so alerts are real); its EVE
lines are then repeated with shifted timestamps and flow ids until the file has the
requested number of lines. The result is cached next to the captures' hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SPANWATCH_BENCH_CACHE", "/var/tmp/spanwatch-bench"))
_TS_RE = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)')
_FLOW_RE = re.compile(rb'"flow_id":(\d+)')


def testdata() -> Path:
    """The shared corpus."""
    return Path(os.environ.get("SPANWATCH_TESTDATA", REPO.parent / "shared" / "data"))


def captures() -> list[Path]:
    """Every capture of the shared attack corpus."""
    return sorted(p for p in (testdata() / "pcaps").rglob("*") if p.suffix in (".pcap", ".pcapng"))


def suricata_lines(work: Path) -> list[bytes]:
    """EVE lines of Suricata with ET Open over the whole capture corpus.

    Runs ``spanwatch analyze`` (Suricata in unix-socket mode, rules loaded once) and
    collects the EVE files it leaves in its run directory.
    """
    spanwatch = Path(sys.executable).with_name("spanwatch")
    argv = [str(spanwatch), "analyze", "-q", "--data-dir", str(work), "--checksum", "none",
            "--rules", str(testdata() / "rules" / "et-open"), *map(str, captures())]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    lines: list[bytes] = []
    for eve in sorted(work.glob("runs/*/*/eve.json")):
        lines.extend(line for line in eve.read_bytes().splitlines() if line.strip())
    return lines


def write_eve_file(path: Path, n_lines: int, pool: list[bytes]) -> None:
    """Repeat ``pool`` with shifted timestamps and flow ids until ``n_lines`` are written."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    written = 0
    with open(path, "wb") as out:
        rnd = 0
        while written < n_lines:
            shift = dt.timedelta(seconds=rnd)
            for line in pool:
                if written >= n_lines:
                    break
                stamp = (base + shift + dt.timedelta(milliseconds=written)).strftime(
                    "%Y-%m-%dT%H:%M:%S"
                ).encode()
                line = _TS_RE.sub(b'"timestamp":"' + stamp, line, count=1)
                line = _FLOW_RE.sub(lambda m: b'"flow_id":%d' % (int(m.group(1)) + rnd), line)
                out.write(line + b"\n")
                written += 1
            rnd += 1


def eve_file(n_lines: int) -> Path:
    """A cached EVE file of ``n_lines`` lines."""
    key = hashlib.sha256("".join(str(p) for p in captures()).encode()).hexdigest()[:12]
    path = CACHE / f"eve-{key}-{n_lines}.json"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pool = suricata_lines(Path(tmp))
    if not pool:
        sys.exit("No EVE lines: is Suricata installed and the test data present?")
    partial = path.with_suffix(".partial")
    write_eve_file(partial, n_lines, pool)
    partial.rename(path)
    return path


def live_like(path: Path) -> Path:
    """``path`` with every flow's start and end moved to its record's time (cached).

    The shared EVE file repeats old captures with new timestamps but keeps each flow's
    original start and end (years apart); on a live link flows end when they are logged.
    """
    out = path.with_name(path.stem + "-live.json")
    if out.exists():
        return out
    import orjson

    from appliance.events import parse_timestamp

    partial = out.with_suffix(".partial")
    with open(path, "rb") as src, open(partial, "wb") as dst:
        for line in src:
            record = orjson.loads(line)
            flow = record.get("flow") if record.get("event_type") == "flow" else None
            if isinstance(flow, dict) and flow.get("start") and flow.get("end"):
                span = parse_timestamp(flow["end"]) - parse_timestamp(flow["start"])
                end = parse_timestamp(record["timestamp"])
                flow["end"] = iso(end)
                flow["start"] = iso(end - max(span, 0))
            dst.write(orjson.dumps(record) + b"\n")
    partial.rename(out)
    return out


def iso(us: int) -> str:
    """An EVE timestamp (UTC) of ``us`` microseconds since the epoch."""
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"
