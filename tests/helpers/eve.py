"""Synthetic EVE for ingest tests, and the store read back as comparable records.

:class:`EveGenerator` writes realistic Suricata 7 EVE lines (alert, flow, dns, http,
tls, stats, anomaly) with unique timestamps and flow ids, deterministic by seed, fast
enough for files of hundreds of thousands of lines. Addresses come from the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and 10.0.0.0/8.

:func:`stored_records` and :func:`line_records` turn the store and an EVE file into
multisets of canonical JSON strings, so a test can assert "every line exactly once".
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from appliance.config import AppConfig
from appliance.errors import StoreError
from appliance.store import EventQuery, EventStore, open_store
from sensors.analyzers import AnalyzerSet, load_analyzers
from sensors.deadletter import DeadLetterFile
from sensors.runner import EveRunner, RunStats
from sensors.ship import StoreSink

#: The dead-letter file in a data directory (as ``spanwatch ingest`` and the sensor name it).
DEAD_LETTER_NAME = "dead-letter.jsonl"
#: Input records never carry this type; the sensor's analyzers add them.
FINDING = "finding"
#: 2024-05-01T00:00:00Z: the first synthetic timestamp of seed 0.
BASE_EPOCH = 1_714_521_600
#: Each line is this many microseconds after the previous one, plus jitter below it.
STEP_US = 1000

_INTERNAL = [f"10.{a}.{b}.{c}" for a in (0, 1, 20) for b in (0, 5) for c in range(2, 40)]
_EXTERNAL = [f"{net}.{h}" for net in ("192.0.2", "198.51.100", "203.0.113") for h in range(1, 255)]
_HOSTS = ["www.example.com", "api.example.com", "mail.example.com", "cdn.example.net",
          "example.org", "xn--bcher-kva.example", "update.example.com"]  # fmt: skip
_URLS = ["/", "/index.html", "/login", "/api/v1/items?page=2", "/static/app.js",
         "/search?q=caf\u00e9", "/wp-admin/admin-ajax.php", "/../../etc/passwd"]  # fmt: skip
_AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
           "curl/8.5.0", "python-requests/2.31.0", "Wget/1.21.4"]  # fmt: skip
_SIGNATURES = [
    (2100498, 7, "GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic", 2),
    (2013028, 7, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak", 2),
    (2024897, 2, "ET USER_AGENTS Go HTTP Client User-Agent", "Misc activity", 3),
    (2027865, 4, "ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", 2),
    (2001219, 20, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2),
    (9000001, 1, "SPANWATCH LOCAL cleartext password", "Potential Corporate Privacy Violation", 1),
]
_ANOMALIES = [
    {"type": "decode", "event": "decoder.ipv4.trunc_pkt"},
    {"type": "stream", "event": "stream.pkt_invalid_timestamp"},
    {"type": "stream", "event": "stream.fin_but_no_session"},
    {
        "type": "applayer",
        "event": "APPLAYER_DETECT_PROTOCOL_ONLY_ONE_DIRECTION",
        "layer": "proto_detect",
    },  # fmt: skip
]
_KINDS = ["flow"] * 7 + ["dns"] * 4 + ["http"] * 3 + ["tls"] * 3 + ["alert"] * 2 + ["anomaly"]
_STATS_EVERY = 997
_TS_MARK = "@TS@"
_MASK50 = (1 << 50) - 1
_APP_PROTOS = {443: "tls", 80: "http", 22: "ssh", 53: "dns"}


class EveGenerator:
    """Consecutive synthetic EVE lines; two generators with the same seed agree exactly.

    Every call continues the sequence, so timestamps and flow ids stay unique across
    calls, and generators of different seeds cover different days. For speed, each line
    is a fresh timestamp and flow id spliced into one of a pool of pre-serialized record
    bodies (about 2 µs a line instead of 50 for building every record).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        start: float | None = None,
        iface: str = "eth1",
        tz: str = "+0000",
        pool: int = 2048,
    ) -> None:
        """``start`` (epoch seconds) is the first timestamp; default: a fixed day per seed.

        Give a recent ``start`` where retention runs (the live sensor), or old records
        would be removed by age.
        """
        self.seed = seed
        self.iface = iface
        self.tz = tz
        self.index = 0
        self._rng = random.Random(seed)
        first = BASE_EPOCH + seed * 86_400 if start is None else int(start)
        self._base_us = first * 1_000_000
        self._sec_cache: tuple[int, str] = (-1, "")
        self._packets = 0
        self._pool = [self._body(self._rng) for _ in range(pool)]

    # -- public --------------------------------------------------------------------------

    def lines(self, n: int) -> list[bytes]:
        """The next ``n`` lines, without their newlines."""
        out: list[bytes] = []
        append, rand, pool, size = out.append, self._rng.getrandbits, self._pool, len(self._pool)
        base, seed, tz = self._base_us, self.seed, self.tz
        secs_cached, head = self._sec_cache
        for i in range(self.index, self.index + n):
            bits = rand(32)
            secs, micros = divmod(base + i * STEP_US + (bits >> 16) % STEP_US, 1_000_000)
            if secs != secs_cached:
                secs_cached, head = secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
            ts = f"{head}.{micros:06d}{tz}"
            if i % _STATS_EVERY == _STATS_EVERY - 1:
                append(orjson.dumps(self._stats(ts, i)))
                continue
            # A bijection of i (odd multiplier modulo 2**50), offset by the seed.
            flow_id = ((i * 2_654_435_761) & _MASK50) + (1 << 50) + seed
            body = pool[(bits & 0xFFFF) % size]
            append(f'{{"timestamp":"{ts}","flow_id":{flow_id},{ts.join(body)}'.encode())
        self.index += n
        self._sec_cache = (secs_cached, head)
        return out

    def chunk(self, n: int) -> bytes:
        """The next ``n`` lines as file content, newline-terminated."""
        return b"".join(line + b"\n" for line in self.lines(n))

    def write(
        self, path: Path, n: int, *, append: bool = False, chunk: int = 20_000
    ) -> list[bytes]:
        """Write (or append) the next ``n`` lines to ``path``; returns them."""
        out: list[bytes] = []
        with open(path, "ab" if append else "wb") as fh:
            while len(out) < n:
                part = self.lines(min(chunk, n - len(out)))
                fh.write(b"\n".join(part) + b"\n")
                out.extend(part)
        return out

    # -- lines ---------------------------------------------------------------------------

    def _body(self, rng: random.Random) -> list[str]:
        """One record without timestamp and flow id, cut where its own timestamps go."""
        kind = rng.choice(_KINDS)
        internal, external = rng.choice(_INTERNAL), rng.choice(_EXTERNAL)
        src, dst = (internal, external) if rng.random() < 0.8 else (external, internal)
        record: dict[str, Any] = {
            "in_iface": self.iface,
            "event_type": kind,
            "src_ip": src,
            "src_port": rng.randrange(32768, 61000),
            "dest_ip": dst,
        }
        getattr(self, "_" + kind)(record, rng, _TS_MARK)
        return orjson.dumps(record).decode("utf-8")[1:].split(_TS_MARK)

    # -- records -------------------------------------------------------------------------

    def _flow(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        proto = rng.choice(("TCP", "TCP", "UDP"))
        r["dest_port"] = rng.choice((443, 80, 22, 53, 123) if proto == "TCP" else (53, 123, 443))
        r["proto"] = proto
        r["app_proto"] = _APP_PROTOS.get(r["dest_port"], "failed")
        pts, ptc = rng.randrange(1, 400), rng.randrange(0, 900)
        r["flow"] = {
            "pkts_toserver": pts, "pkts_toclient": ptc,
            "bytes_toserver": pts * rng.randrange(60, 1500),
            "bytes_toclient": ptc * rng.randrange(60, 1500),
            "start": ts, "end": ts, "age": rng.randrange(0, 120),
            "state": rng.choice(("closed", "established", "new")),
            "reason": rng.choice(("timeout", "shutdown")), "alerted": rng.random() < 0.05,
        }  # fmt: skip
        if proto == "TCP":
            r["tcp"] = {
                "tcp_flags": "1b",
                "tcp_flags_ts": "1b",
                "tcp_flags_tc": "1b",
                "syn": True,
                "fin": True,
                "psh": True,
                "ack": True,
                "state": "closed",
            }

    def _dns(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        r.update(dest_port=53, proto="UDP")
        name = rng.choice(_HOSTS)
        answer = rng.choice(_EXTERNAL)
        r["dns"] = {
            "version": 2, "type": "answer", "id": rng.randrange(65536), "flags": "8180",
            "qr": True, "rd": True, "ra": True, "opcode": 0, "rrname": name, "rrtype": "A",
            "rcode": "NOERROR",
            "answers": [{"rrname": name, "rrtype": "A", "ttl": rng.randrange(30, 86400),
                         "rdata": answer}],
            "grouped": {"A": [answer]},
        }  # fmt: skip

    def _http(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        r.update(dest_port=rng.choice((80, 8080)), proto="TCP", tx_id=rng.randrange(4))
        r["http"] = {
            "hostname": rng.choice(_HOSTS), "url": rng.choice(_URLS),
            "http_user_agent": rng.choice(_AGENTS), "http_content_type": "text/html",
            "http_method": rng.choice(("GET", "GET", "POST", "HEAD")), "protocol": "HTTP/1.1",
            "status": rng.choice((200, 200, 301, 404, 500)), "length": rng.randrange(0, 90000),
        }  # fmt: skip

    def _tls(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        r.update(dest_port=443, proto="TCP")
        host = rng.choice(_HOSTS)
        r["tls"] = {
            "subject": f"CN={host}", "issuerdn": "C=US, O=Example Trust, CN=Example CA R3",
            "serial": ":".join(f"{rng.randrange(256):02X}" for _ in range(8)),
            "fingerprint": ":".join(f"{rng.randrange(256):02x}" for _ in range(20)),
            "sni": host, "version": rng.choice(("TLS 1.2", "TLS 1.3")),
            "notbefore": "2024-01-01T00:00:00", "notafter": "2025-01-01T00:00:00",
            "ja3": {"hash": f"{rng.getrandbits(128):032x}", "string": "771,4865-4866,0-23,29,0"},
        }  # fmt: skip

    def _alert(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        sid, rev, msg, category, severity = rng.choice(_SIGNATURES)
        r.update(dest_port=rng.choice((80, 443, 22, 53)), proto="TCP", pkt_src="wire/pcap")
        r["alert"] = {
            "action": "allowed", "gid": 1, "signature_id": sid, "rev": rev, "signature": msg,
            "category": category, "severity": severity,
            "metadata": {"created_at": ["2010_09_23"], "updated_at": ["2024_03_01"]},
        }  # fmt: skip
        r["app_proto"] = "http"
        r["direction"] = rng.choice(("to_server", "to_client"))
        r["flow"] = {"pkts_toserver": rng.randrange(1, 50), "pkts_toclient": rng.randrange(0, 50),
                     "bytes_toserver": rng.randrange(60, 9000),
                     "bytes_toclient": rng.randrange(0, 9000), "start": ts}  # fmt: skip

    def _anomaly(self, r: dict[str, Any], rng: random.Random, ts: str) -> None:
        r.update(dest_port=rng.randrange(1, 1024), proto=rng.choice(("TCP", "UDP")))
        r["anomaly"] = dict(rng.choice(_ANOMALIES))

    def _stats(self, ts: str, i: int) -> dict[str, Any]:
        # Cumulative counters without drops: the capture-loss analyzer stays quiet.
        self._packets += 5000 + self._rng.randrange(5000)
        return {
            "timestamp": ts, "event_type": "stats",
            "stats": {
                "uptime": i // 100,
                "capture": {"kernel_packets": self._packets, "kernel_drops": 0, "errors": 0},
                "decoder": {"pkts": self._packets, "bytes": self._packets * 700,
                            "ipv4": self._packets, "ipv6": 0, "tcp": self._packets * 3 // 4,
                            "udp": self._packets // 4},
                "flow": {"memuse": 7_000_000 + i},
            },
        }  # fmt: skip


def write_eve_file(path: Path, n: int, *, seed: int = 0) -> list[bytes]:
    """Write a fresh EVE file of ``n`` synthetic lines; returns the lines."""
    return EveGenerator(seed).write(path, n)


# -- comparing input and store ---------------------------------------------------------


def canonical(record: bytes | str | dict[str, Any]) -> str:
    """One record as canonical JSON (sorted keys), whatever its original spelling."""
    data = orjson.loads(record) if isinstance(record, bytes | str) else dict(record)
    data.pop("_id", None)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def line_records(lines: Iterable[bytes]) -> Counter[str]:
    """Multiset of the canonical records of ``lines`` (blank lines ignored)."""
    return Counter(canonical(line) for line in lines if line.strip())


def file_records(*paths: Path) -> Counter[str]:
    """Multiset of the records of whole EVE files (every line must be a record)."""
    total: Counter[str] = Counter()
    for path in paths:
        total += line_records(path.read_bytes().split(b"\n"))
    return total


def stored_records(store_path: Path, *, findings: bool = False) -> Counter[str]:
    """Multiset of the canonical records in the store (without findings by default)."""
    store = open_store(store_path, readonly=True)
    try:
        out: Counter[str] = Counter()
        for record in store.events(EventQuery()):
            if findings or record.get("event_type") != FINDING:
                out[canonical(record)] += 1
        return out
    finally:
        store.close()


def describe_difference(expected: Counter[str], actual: Counter[str], *, show: int = 3) -> str:
    """What is missing from and what is extra in ``actual``, for an assertion message."""
    missing = expected - actual
    extra = actual - expected
    dupes = sum(n - 1 for rec, n in actual.items() if n > 1)
    lines = [
        f"expected {sum(expected.values())} records, stored {sum(actual.values())}: "
        f"{sum(missing.values())} missing, {sum(extra.values())} extra ({dupes} duplicates)"
    ]
    lines += [f"  missing: {rec[:200]}" for rec in list(missing)[:show]]
    lines += [f"  extra x{n}: {rec[:200]}" for rec, n in list(extra.items())[:show]]
    return "\n".join(lines)


def assert_same_records(expected: Counter[str], actual: Counter[str]) -> None:
    """Fail with a readable difference unless the multisets are equal."""
    if expected != actual:
        raise AssertionError(describe_difference(expected, actual))


# -- running the ingest path in-process ------------------------------------------------


def make_runner(
    path: Path,
    store: EventStore,
    data_dir: Path,
    *,
    follow: bool = False,
    batch_size: int = 100,
    max_line_bytes: int = 8 * 1024 * 1024,
    stop: threading.Event | None = None,
    on_batch: Callable[[RunStats], None] | None = None,
    analyzers: bool = False,
) -> EveRunner:
    """The production runner over ``path`` into ``store``.

    Without the analyzers unless asked: ingest tests count stored lines, and analyzers add
    findings of their own (the synthetic EVE holds self-signed TLS, for one).
    """
    cfg = AppConfig.model_validate(
        {
            "sensor": {"name": "test-sensor"},
            "data_dir": str(data_dir),
            "ingest": {"batch_size": batch_size, "max_line_bytes": max_line_bytes},
        }
    )
    return EveRunner(
        Path(path),
        store=store,
        sink=StoreSink(store, cfg.sensor.name),
        analyzers=load_analyzers(cfg) if analyzers else AnalyzerSet([]),
        dead_letters=DeadLetterFile(data_dir / DEAD_LETTER_NAME),
        cfg=cfg.ingest,
        follow=follow,
        poll_seconds=0.02,
        stop=stop,
        on_batch=on_batch,
    )


class Follower:
    """A following runner in a thread: ``with Follower(runner): ...`` stops and joins it."""

    def __init__(self, runner: EveRunner) -> None:
        self.runner = runner
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as err:  # re-raised in the test's thread by __exit__
            self.error = err

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the runner did not stop"
        self.runner.dead_letters.close()
        if self.error is not None:
            raise self.error


def wait_for(predicate: Callable[[], bool], *, timeout: float = 30, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)


def holds_all(store_path: Path, expected: Counter[str]) -> bool:
    """Whether the store holds every record of ``expected`` (a missing store holds none).

    The stored records are read (and compared) only once the cheap count says there are
    enough of them: polled while a writer works, a full read each time would compete with it.
    """
    if count_stored(store_path) < sum(expected.values()):
        return False
    return not expected - stored_records(store_path)


def count_stored(store_path: Path) -> int:
    """Events stored from input lines (not findings), through a connection of its own.

    0 while the store does not exist or has no schema yet (a writer is creating it).
    """
    try:
        store = open_store(store_path, readonly=True)
    except StoreError:
        return 0  # not there yet, or its creator has not migrated it yet
    try:
        # Input lines only: analyzers may add findings of their own.
        return store.count_events(EventQuery()) - store.count_events(
            EventQuery(event_type="finding")
        )
    finally:
        store.close()


def read_dead_letters(data_dir: Path, *, skip_torn: bool = False) -> list[dict[str, Any]]:
    """The dead-letter records written under ``data_dir``.

    ``skip_torn`` skips unparsable lines: records torn by a full disk.
    """
    path = data_dir / DEAD_LETTER_NAME
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            if not skip_torn:
                raise
    return out
