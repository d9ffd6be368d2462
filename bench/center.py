"""Benchmark: records/s stored at the center from 10 sensors posting at once, beside local.

    python bench/center.py [--lines 500000] [--sensors 10] [--batch 5000]

The center is the real ``spanwatch center`` (HTTPS on loopback, its own process). Ten
simulated sensors (threads with their batches encoded beforehand, so the bench measures the
center, not the senders) post their share of the same real EVE lines concurrently with the
production client. Beside it, in the same run: the local sink (``spanwatch ingest``'s
reader and threaded store writer) storing the same lines. Target: the center stores at
least 50% of the local rate. Then each sensor offers 60% of its share of the measured
center rate for a while: the lag (a batch's age when the center acknowledges it) must stay
bounded instead of growing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evefile import eve_file  # noqa: E402
from bench.ingest import run_spanwatch as run_local  # noqa: E402


def _configs(tmp: Path) -> tuple[Path, Path, int]:
    """The center's config file, its certificate, and a free port."""
    import socket

    import yaml

    from appliance.center.tls import self_signed, write_pair

    cert, key = tmp / "center.crt", tmp / "center.key"
    write_pair(cert, key, *self_signed("127.0.0.1", ("127.0.0.1",)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp / "center.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(tmp / "center"), "sensor": {"name": "center"},
        "center": {"enabled": True, "bind": f"127.0.0.1:{port}", "tls_cert": str(cert),
                   "tls_key": str(key), "max_past_days": 0},
    }))  # fmt: skip
    return path, cert, port


def _batches(path: Path, sensors: int, size: int) -> list[list[tuple[int, bytes]]]:
    """Per sensor: (records, compressed body) of its share of the file's lines."""
    from appliance.center.batch import Source, encode_batch

    lines = path.read_bytes().split(b"\n")
    lines = [line for line in lines if line.strip()]
    out: list[list[tuple[int, bytes]]] = [[] for _ in range(sensors)]
    share = len(lines) // sensors
    for s in range(sensors):
        part = lines[s * share:(s + 1) * share]
        offset = 0
        source = Source(1, f"{s:02x}" * 16, f"/var/log/suricata/eve-{s}.json")
        for start in range(0, len(part), size):
            items = []
            for raw in part[start:start + size]:
                items.append((1, offset, raw))
                offset += len(raw) + 1
            out[s].append((len(items), encode_batch([source], items)))
    return out


def _enrol(cfg_path: Path, sensors: int, prefix: str) -> dict[str, str]:
    from appliance.center.registry import SensorRegistry
    from appliance.config import load_config
    from appliance.state import open_state

    cfg = load_config(cfg_path, environ={})
    state = open_state(cfg.state_path)
    registry = SensorRegistry(state)
    tokens = {}
    for s in range(sensors):
        name, token = f"{prefix}-{s}", f"{prefix}-token-{s:02d}-" + "x" * 32
        registry.request(name, token, address="127.0.0.1", max_pending=1000)
        registry.approve(name, actor="bench")
        tokens[name] = token
    state.close()
    return tokens


class Sender(threading.Thread):
    """One simulated sensor: posts its batches, retrying, and records each batch's lag."""

    def __init__(self, name: str, token: str, url: str, cert: Path,
                 batches: list[tuple[int, bytes]], interval: float = 0.0,
                 delay: float = 0.0) -> None:  # fmt: skip
        super().__init__(daemon=True)
        from appliance.config import RemoteConfig
        from sensors.remote import CenterClient

        remote = RemoteConfig(url=url, ca_file=cert, timeout_seconds=120)
        self.client = CenterClient(remote, name, token)
        self.batches, self.interval, self.delay = batches, interval, delay
        self.stored = 0
        self.lags: list[float] = []

    def run(self) -> None:
        from sensors.remote import CenterError

        start = time.perf_counter() + self.delay
        for i, (_n, body) in enumerate(self.batches):
            due = start + i * self.interval  # when the batch was "read" at the sensor
            while time.perf_counter() < due:
                time.sleep(min(0.01, due - time.perf_counter()))
            while True:
                try:
                    answer = self.client.post_batch(body, {"spanwatch_version": "bench"})
                    break
                except CenterError:
                    time.sleep(0.1)
            self.stored += int(answer.get("stored", 0))
            self.lags.append(time.perf_counter() - max(due, start))
        self.client.close()


def _post_all(senders: list[Sender]) -> float:
    start = time.perf_counter()
    for s in senders:
        s.start()
    for s in senders:
        s.join()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--sensors", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5000, help="records per batch (ingest)")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    args = parser.parse_args()
    path = eve_file(args.lines)
    print(f"Input: {path} ({args.lines:,} lines), {args.sensors} sensors, batches of {args.batch}")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        # Neither side waits for the traffic rollups (a center's core follows its store).
        l_secs, _cpu, l_n = run_local(path, tmp / "local", rollups=False)
        local_rate = l_n / l_secs
        cfg_path, cert, port = _configs(tmp)
        tokens = _enrol(cfg_path, args.sensors, "bench")
        paced_tokens = _enrol(cfg_path, args.sensors, "paced")
        batches = _batches(path, args.sensors, args.batch)
        total = sum(n for per in batches for n, _ in per)
        center = subprocess.Popen(
            [str(Path(sys.executable).with_name("spanwatch")), "center", "--config",
             str(cfg_path), "-q"], stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert center.stdout is not None
            center.stdout.readline()  # "Ingest API on port ..."
            url = f"https://127.0.0.1:{port}"
            senders = [Sender(name, tok, url, cert, batches[i])
                       for i, (name, tok) in enumerate(tokens.items())]  # fmt: skip
            secs = _post_all(senders)
            stored = sum(s.stored for s in senders)
            center_rate = stored / secs
            lags = [lag for s in senders for lag in s.lags]
            # Paced: smaller batches from other sensors (new records at the center), each
            # sensor starting at its own moment, as sensors at different sites would.
            small = max(1, args.batch // 10)
            per_sensor = center_rate / args.sensors * 0.6
            interval = small / per_sensor
            n_batches = max(4, int(args.paced_seconds / interval))
            paced_batches = _batches(path, args.sensors, small)
            paced = [Sender(name, tok, url, cert, paced_batches[i][:n_batches], interval,
                            delay=i * interval / args.sensors)
                     for i, (name, tok) in enumerate(paced_tokens.items())]  # fmt: skip
            _post_all(paced)
            paced_lags = [lag for s in paced for lag in s.lags]
            early = max(lag for s in paced for lag in s.lags[:max(1, len(s.lags) // 2)])
            late = max(lag for s in paced for lag in s.lags[len(s.lags) // 2:])
        finally:
            center.terminate()
            center.wait(timeout=60)
    print(f"local sink (reader + threaded store writer): {local_rate:10,.0f} records/s")
    print(f"center, {args.sensors} sensors over HTTPS:          {center_rate:10,.0f} records/s "
          f"({center_rate / local_rate:.0%} of local; target >= 50%); {stored:,} of {total:,} "
          f"stored")
    print(f"batch round trip under full load: p50 {statistics.median(lags):.2f} s, "
          f"max {max(lags):.2f} s")
    print(f"paced at 60% of the center's rate ({center_rate * 0.6:,.0f} records/s from "
          f"{args.sensors} sensors), batches of {max(1, args.batch // 10)}: "
          f"lag p50 {statistics.median(paced_lags):.2f} s, "
          f"max {max(paced_lags):.2f} s; first half max {early:.2f} s, second half max "
          f"{late:.2f} s (bounded: not growing)")
    return 0 if stored == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
