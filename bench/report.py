"""Benchmark: the daily risk report on a store holding one day of 10,000,000 events.

Fills a store with generated EVE records (flows, DNS, HTTP, TLS, alerts, findings) spread
over one appliance-local day (bench/webui.py's generator), lets the core's periodic work
catch up once (alert index, correlation, inventory, risk: the running core keeps these
current all day, so their time is printed apart), then times the report: every query it
runs alone, then the whole report (collect + HTML + PDF). Target: < 10 s in all.

    .venv/bin/python bench/report.py [--events 10000000]

The filled store is cached in ``$SPANWATCH_BENCH_CACHE/report-<events>`` (default
/var/tmp/spanwatch-bench) and reused by the next run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.config import AppConfig  # noqa: E402
from appliance.events import decode_line  # noqa: E402
from appliance.reports import render  # noqa: E402
from appliance.reports.data import collect, day_bounds  # noqa: E402
from appliance.service import Service  # noqa: E402
from appliance.store import open_store  # noqa: E402
from bench import webui  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TARGET_S = 10.0


def report_day() -> dt.date:
    """Yesterday, appliance time: the day the 07:00 report covers."""
    return dt.datetime.now(TZ).date() - dt.timedelta(days=1)


def fill(data_dir: Path, total: int, day: dt.date) -> float:
    """``total`` generated events over ``day``; seconds taken."""
    webui.DAYS = 1  # the generator spreads its records over DAYS days before end_us
    _start, end = day_bounds(day, TZ)
    store = open_store(data_dir / "spanwatch.db")
    started = time.perf_counter()
    source = store.source_id(b"bench-report-%d" % total, "bench://report")
    batch, offset = [], 0
    for raw in webui.Generator(total, end - 1).lines():
        batch.append(decode_line(raw, (source << 40) | offset))
        offset += len(raw) + 1
        if len(batch) >= webui.BATCH:
            store.add_events(batch, "dc-core")
            batch = []
    if batch:
        store.add_events(batch, "dc-core")
    store.close()
    return time.perf_counter() - started


def cached_store(total: int, day: dt.date) -> tuple[Path, float | None]:
    folder = webui.CACHE / f"report-{total}-{day.isoformat()}"
    marker = folder / "complete"
    if marker.exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = fill(folder, total, day)
    marker.write_text(f"{total} events in {seconds:.0f} s\n")
    return folder, seconds


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def catch_up(service: Service, folder: Path) -> list[tuple[str, float]]:
    """What the running core keeps current during the day (done once here)."""
    from appliance.assets.inventory import Inventory
    from appliance.incidents.correlate import Correlator

    marker = folder / "caught-up"
    if marker.exists():
        return [("core work (cached from an earlier run)", 0.0)]
    steps = [("alert index (Service.alerts)", service.alerts.sync),
             ("correlation (Correlator)", Correlator(service).run_once),
             ("asset inventory (Inventory)", Inventory(service).run_once),
             ("risk recompute", service.risk.recompute)]  # fmt: skip
    out = [(name, timed(step)) for name, step in steps]
    marker.write_text("done\n")
    return out


def query_timings(service: Service, day: dt.date) -> list[tuple[str, float]]:
    """Each query of the report, alone."""
    start, end = day_bounds(day, TZ)
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("risk.network", service.risk.network),
        ("risk.history", lambda: service.risk.history(None, days=7, now_us=end - 1)),
        ("risk.top(5)", lambda: service.risk.top(5)),
        ("incidents.summary", lambda: service.incidents.summary(start, end)),
        ("incidents.list(day)", lambda: service.incidents.list(since_us=start, until_us=end,
                                                               limit=200)),
        ("alerts.severity_counts", lambda: service.alerts.severity_counts(start, end)),
        ("alerts.top(category)", lambda: service.alerts.top("category", start, end, n=8)),
        ("alerts.top(sig)", lambda: service.alerts.top("sig", start, end, n=8, etype="alert")),
        ("alerts.over_time", lambda: service.alerts.over_time(start, end)),
        ("assets.new_since", lambda: service.assets.new_since(start)),
    ]  # fmt: skip
    return [(name, timed(call)) for name, call in calls]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    day = report_day()
    folder, fill_s = cached_store(args.events, day)
    if fill_s is not None:
        print(f"filled {args.events:,} events over {day} in {fill_s:.0f} s")
    service = Service(AppConfig(data_dir=folder))
    try:
        for name, seconds in catch_up(service, folder):
            print(f"  {name:40} {seconds:8.2f} s   (kept current by spanwatch core)")
        queries = query_timings(service, day)
        for name, seconds in queries:
            print(f"  query {name:34} {seconds * 1000:8.1f} ms")
        data: list[Any] = []
        collect_s = timed(lambda: data.append(collect(service, day)))
        html_s = timed(lambda: render(data[0], "vi", "html"))
        pdf_s = timed(lambda: render(data[0], "vi", "pdf"))
    finally:
        service.close()
    total = collect_s + html_s + pdf_s
    print(f"  {'queries alone, sum':40} {sum(s for _, s in queries):8.2f} s")
    print(f"  {'collect (all sections)':40} {collect_s:8.2f} s")
    print(f"  {'render HTML':40} {html_s:8.2f} s")
    print(f"  {'render PDF (WeasyPrint)':40} {pdf_s:8.2f} s")
    verdict = "OK" if total < TARGET_S else "OVER TARGET"
    print(f"report for {day} on {args.events:,} events: {total:.2f} s "
          f"(target < {TARGET_S:.0f} s) {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
