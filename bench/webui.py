"""Web UI server time on a big store: 10 million events against an empty store.

Fills a store with generated EVE records (flows, DNS, HTTP, TLS, alerts of a few hundred
signatures, findings) spread over the last 7 days, straight through the store interface
(no Suricata: the point is the size), indexes the alerts (``Service.alerts``), then asks
the web application for the main pages in-process (Flask's test client, logged in as an
administrator) and prints p50/p95 server time per page beside the same page on an empty
store. Target: p95 < 200 ms at 10M events.

    .venv/bin/python bench/webui.py [--events 10000000] [--runs 30] [--keep DIR]

The filled store is cached in ``$SPANWATCH_BENCH_CACHE/webui-<events>`` (default
/var/tmp/spanwatch-bench) and reused by the next run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.events import decode_line  # noqa: E402
from appliance.store import open_store  # noqa: E402

CACHE = Path(os.environ.get("SPANWATCH_BENCH_CACHE", "/var/tmp/spanwatch-bench"))
DAYS = 7
BATCH = 10_000
#: Share of each event type (the rest of 1.0 are flows).
MIX = (("alert", 0.08), ("finding", 0.01), ("dns", 0.12), ("http", 0.06), ("tls", 0.05))
FINDINGS = (("port-scan", "reconnaissance", 2), ("host-sweep", "reconnaissance", 2),
            ("brute-force", "credential-access", 2), ("beaconing", "command-and-control", 2),
            ("dns-tunnel", "command-and-control", 1), ("cleartext-credentials", "policy", 2),
            ("data-exfiltration", "exfiltration", 1), ("ioc-match", "threat-intel", 1))
_TS = b"@TIMESTAMP@"
_FLOW = b"987654321987654321"
CATEGORIES = ("Attempted Information Leak", "Potentially Bad Traffic", "Misc activity",
              "A Network Trojan was detected", "Web Application Attack",
              "Attempted Administrator Privilege Gain", "Potential Corporate Privacy Violation")


class Generator:
    """Deterministic EVE records: hosts, signatures and times drawn from one seed."""

    def __init__(self, total: int, end_us: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.start_us = end_us - DAYS * 86_400_000_000
        self.step = (end_us - self.start_us) / max(total, 1)
        self.inside = [f"10.10.{i // 250}.{i % 250 + 1}" for i in range(2_000)]
        self.outside = [f"{self.rng.choice((198, 203, 45, 185))}.{self.rng.randint(0, 255)}."
                        f"{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
                        for _ in range(5_000)]  # fmt: skip
        families = ("SCAN", "POLICY", "MALWARE", "EXPLOIT", "WEB_SERVER")
        self.sigs = [(2_000_000 + i * 37, f"ET {self.rng.choice(families)} synthetic signature {i}",
                      self.rng.choice(CATEGORIES), self.rng.choice((1, 2, 2, 3)))
                     for i in range(300)]  # fmt: skip
        weights = [1 / (i + 1) for i in range(len(self.sigs))]
        self.sig_weights = weights

    def lines(self, pool: int = 20_000) -> Iterator[bytes]:
        """EVE lines in time order: records drawn from a pool of templates, each with its
        own timestamp and flow id (building every record from scratch costs 10x more)."""
        rng = self.rng
        names = [name for name, _ in MIX] + ["flow"]
        weights = [share for _, share in MIX] + [1 - sum(share for _, share in MIX)]
        templates = [orjson.dumps(self._record(kind, 0, i))
                     for i, kind in enumerate(rng.choices(names, weights, k=pool))]  # fmt: skip
        for n in range(self.total):
            ts = _eve_time(int(self.start_us + n * self.step)).encode()
            tpl = templates[rng.randrange(pool)]
            yield tpl.replace(_TS, ts).replace(_FLOW, b"%d" % (10**15 + n))

    def _record(self, kind: str, ts: int, n: int) -> dict[str, Any]:
        rng = self.rng
        src = rng.choice(self.inside)
        dest = rng.choice(self.outside) if rng.random() < 0.6 else rng.choice(self.inside)
        base: dict[str, Any] = {
            "timestamp": _TS.decode(), "flow_id": int(_FLOW), "event_type": kind,
            "src_ip": src, "src_port": rng.randint(1024, 65535), "dest_ip": dest,
            "dest_port": rng.choice((53, 80, 443, 22, 445, 3389)), "proto": "TCP",
        }  # fmt: skip
        if kind == "flow":
            up, down = rng.randint(60, 90_000), rng.randint(60, 900_000)
            stamp = base["timestamp"]
            base["flow"] = {"pkts_toserver": up // 500 + 1, "pkts_toclient": down // 900 + 1,
                            "bytes_toserver": up, "bytes_toclient": down, "start": stamp,
                            "end": stamp, "age": 1, "state": "closed",
                            "reason": "timeout", "alerted": False}  # fmt: skip
        elif kind == "dns":
            base["dns"] = {"type": "query", "id": n % 65536, "rrtype": "A",
                           "rrname": f"host{n % 9973}.example.org"}  # fmt: skip
        elif kind == "http":
            base["http"] = {"hostname": f"www{n % 313}.example.com", "url": f"/page/{n % 1000}",
                            "http_user_agent": "Mozilla/5.0", "http_method": "GET",
                            "status": 200, "length": n % 50_000}  # fmt: skip
        elif kind == "tls":
            base["tls"] = {"sni": f"api{n % 211}.example.net", "version": "TLS 1.3"}
        elif kind == "alert":
            sid, msg, category, severity = rng.choices(self.sigs, self.sig_weights)[0]
            base["alert"] = {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 3,
                             "signature": msg, "category": category, "severity": severity}
        else:
            kind_name, category, severity = rng.choice(FINDINGS)
            base["finding"] = {"type": kind_name, "category": category, "severity": severity,
                               "confidence": 0.9, "explanation": {"en": f"{kind_name} from {src}",
                                                                  "vi": f"{kind_name} từ {src}"},
                               "evidence": {"count": n % 500}}  # fmt: skip
        return base


def _eve_time(us: int) -> str:
    moment = datetime.fromtimestamp(us / 1e6, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % 1_000_000:06d}+0000"


def fill(data_dir: Path, total: int) -> float:
    """Write ``total`` generated events into the store of ``data_dir``; seconds taken."""
    store = open_store(data_dir / "spanwatch.db")
    started = time.perf_counter()
    source = store.source_id(b"bench-webui-%d" % total, "bench://webui")
    gen = Generator(total, int(time.time() * 1e6))
    batch, offset = [], 0
    for raw in gen.lines():
        batch.append(decode_line(raw, (source << 40) | offset))
        offset += len(raw) + 1
        if len(batch) >= BATCH:
            store.add_events(batch, "dc-core")
            batch = []
    if batch:
        store.add_events(batch, "dc-core")
    store.close()
    return time.perf_counter() - started


def cached_store(total: int) -> tuple[Path, float | None]:
    """A data directory holding ``total`` events (made once, then reused)."""
    folder = CACHE / f"webui-{total}"
    marker = folder / "complete"
    if marker.exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = fill(folder, total)
    marker.write_text(f"{total} events in {seconds:.0f} s\n")
    return folder, seconds


def timings(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(p50, p95) milliseconds of ``call`` over ``runs`` runs after one warm-up."""
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


#: Pages timed: (name, path or a function of the app's data giving one); a path whose
#: blueprint is not installed is reported as such.
PAGES: tuple[tuple[str, str], ...] = (
    ("dashboard", "/dashboard/"),
    ("dashboard 7 days", "/dashboard/?window=7d"),
    ("alert list (inbox)", "/alerts/"),
    ("alert list, high, 24 h", "/alerts/?severity=1&range=24h"),
    ("alert list, one host", "/alerts/?host={host}"),
    ("alert list, text search", "/alerts/?q=MALWARE&range=24h"),
    ("alerts by signature, 24 h", "/alerts/?view=groups&range=24h"),
    ("alert detail", "/alerts/{event_id}"),
    ("host page", "/assets/{host}"),
    ("rules search", "/rules/?q=trojan"),
)
PASSWORD = "Timing-Secret-4242"


def web_client(data_dir: Path) -> tuple[Any, Any]:
    """The web app on ``data_dir`` and a client logged in as an administrator."""
    from webui.app import create_app

    config = data_dir / "bench-appliance.yaml"
    config.write_text(f"data_dir: {data_dir}\nsensor: {{name: dc-core}}\n", encoding="utf-8")
    app = create_app(config_path=config, testing=True)
    users = app.extensions["spanwatch"].service.users
    if users.by_name("bench") is None:
        users.create("bench", PASSWORD, "admin")
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_REFERER"] = "https://localhost/"
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    done = client.post("/login", data={"csrf_token": token, "username": "bench",
                                       "password": PASSWORD})  # fmt: skip
    if done.status_code != 302:
        raise SystemExit("bench: cannot log in to the web app")
    client.get("/language/en")
    return app, client


def page_timings(stores: dict[str, Path], runs: int) -> list[list[str]]:
    """Rows of (page, p50/p95 per store)."""
    columns: dict[str, dict[str, str]] = {}
    for label, data_dir in stores.items():
        app, client = web_client(data_dir)
        service = app.extensions["spanwatch"].service
        started = time.perf_counter()
        indexed = service.alerts.sync()
        if indexed:
            print(f"{label}: indexed {indexed:,} alerts in {time.perf_counter() - started:.0f} s")
        if "assets" in dir(service):
            from appliance.assets.inventory import Inventory

            started = time.perf_counter()
            found = Inventory(service).run_once()
            if found.records:
                print(f"{label}: asset inventory over {found.records:,} records in "
                      f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        newest = service.alerts.list(limit=1).items
        hosts = service.alerts.top("host", 0, 2**62, 1)
        values = {"host": hosts[0]["key"] if hosts else "10.10.0.1",
                  "event_id": newest[0].event_id if newest else 1}  # fmt: skip
        for name, path in PAGES:
            url = path.format(**values)
            status = client.get(url).status_code
            if status == 404 and name in ("host page", "rules search"):
                columns.setdefault(name, {})[label] = "no page (404)"
                continue
            if status >= 400 and not (status == 404 and "{" in path):
                columns.setdefault(name, {})[label] = f"HTTP {status}"
                continue
            p50, p95 = timings(lambda u=url: client.get(u), runs)
            columns.setdefault(name, {})[label] = f"{p50:7.1f} / {p95:7.1f}"
        service.close()
    return [[name, *(cells.get(label, "") for label in stores)] for name, cells in columns.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    big, fill_s = cached_store(args.events)
    if fill_s is not None:
        print(f"filled {args.events:,} events in {fill_s:.0f} s ({args.events / fill_s:,.0f}/s)")
    with tempfile.TemporaryDirectory(prefix="spanwatch-bench-webui-") as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        rows = page_timings({"empty": empty, f"{args.events:,} events": big}, args.runs)
    width = max(len(r[0]) for r in rows)
    print(f"server time per page, ms (p50 / p95 over {args.runs} requests; target p95 < 200)")
    print(f"{'page':{width}}  {'empty store':>22}  {f'{args.events:,} events':>22}")
    for name, *cells in rows:
        print(f"{name:{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
