"""Exactly once through the real CLI: SIGKILL at random moments, rotation, a full disk.

Each test runs ``spanwatch`` as a subprocess, kills it with SIGKILL at seeded random
moments, starts it again, and finally compares the store with every EVE line ever
written, record for record: nothing missing, nothing twice.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from io import FileIO
from pathlib import Path

import pytest

from tests.helpers.cli import run_spanwatch, spanwatch_argv
from tests.helpers.eve import (
    EveGenerator,
    assert_same_records,
    count_stored,
    describe_difference,
    holds_all,
    line_records,
    read_dead_letters,
    stored_records,
    wait_for,
    write_eve_file,
)

#: Seed of the kill moments; set EXACTLY_ONCE_SEED to explore other interleavings.
KILL_SEED = int(os.environ.get("EXACTLY_ONCE_SEED", "20240501"))
MiB = 1024 * 1024


class Command:
    """One ``spanwatch`` command line, started again and again; each run logs to a file."""

    def __init__(self, log_dir: Path, *args: str | os.PathLike[str]) -> None:
        self.argv = spanwatch_argv(*args)
        self.log_dir = log_dir
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        with open(self.log_dir / f"run-{self.runs:02d}.log", "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM once the command handles it (not while Python is still starting)."""
        proc = self.proc
        assert proc is not None
        wait_for(lambda: proc.poll() is not None or _catches_sigterm(proc.pid), what="start-up")
        proc.terminate()
        return proc.wait(timeout=timeout)

    def reap(self) -> None:
        """Kill a run still going (a failed test must not leave a spanwatch behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def logs(self) -> str:
        return "".join(
            f"--- run {n}\n" + (self.log_dir / f"run-{n:02d}.log").read_text(errors="replace")
            for n in range(1, self.runs + 1)
        )


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler (Linux: SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


class BurstWriter(threading.Thread):
    """Appends EVE lines like Suricata: whole lines, a burst every few milliseconds."""

    def __init__(self, path: Path, gen: EveGenerator, *, burst: int = 10, pause: float = 0.01):
        super().__init__(daemon=True)
        self.path = path
        self.gen = gen
        self.burst = burst
        self.pause = pause
        self.phases: dict[str, list[bytes]] = {}
        self.error: BaseException | None = None

    @property
    def written(self) -> list[bytes]:
        return [line for lines in self.phases.values() for line in lines]

    def run(self) -> None:
        try:
            self.script()
        except BaseException as err:  # re-raised by finish() in the test's thread
            self.error = err

    def script(self) -> None:
        with open(self.path, "ab", buffering=0) as fh:
            self.append(fh, "all", 4000)

    def append(self, fh: FileIO, phase: str, n: int) -> None:
        lines = self.phases.setdefault(phase, [])
        goal = len(lines) + n
        while len(lines) < goal:
            part = self.gen.lines(min(self.burst, goal - len(lines)))
            fh.write(b"".join(line + b"\n" for line in part))  # one write of whole lines
            lines.extend(part)
            time.sleep(self.pause)

    def finish(self) -> None:
        self.join(timeout=60)
        assert not self.is_alive(), "the writer did not finish"
        if self.error is not None:
            raise self.error


class RotatingWriter(BurstWriter):
    """Rotates its file once by rename and once by copytruncate while writing."""

    renamed_name = "eve.json.1"
    copy_name = "eve.json.2"

    def script(self) -> None:
        per_phase = 2500
        fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - reopened below
        self.append(fh, "first", per_phase)
        os.rename(self.path, self.path.with_name(self.renamed_name))
        # Suricata writes on into the renamed file until it reopens its log.
        self.append(fh, "late", per_phase // 10)
        fh.close()
        fh = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self.append(fh, "second", per_phase)
        # logrotate's copytruncate; O_APPEND writes go on at the new end (0).
        shutil.copyfile(self.path, self.path.with_name(self.copy_name))
        os.truncate(self.path, 0)
        self.append(fh, "third", per_phase)
        fh.close()


def _kill_while(cmd: Command, rng: random.Random, busy: threading.Thread, *, least: int) -> int:
    """Start, SIGKILL after a random while, repeat: while ``busy`` runs, and ``least`` times."""
    kills = 0
    while (busy.is_alive() or kills < least) and kills < 3 * least:
        cmd.start()
        time.sleep(rng.uniform(0.4, 1.5))
        cmd.kill()
        kills += 1
    return kills


@pytest.fixture
def command(tmp_path: Path) -> Iterator[Callable[..., Command]]:
    """``command(*args)``: a :class:`Command` logging under tmp_path, reaped at teardown."""
    made: list[Command] = []

    def make(*args: str | os.PathLike[str]) -> Command:
        made.append(Command(tmp_path, *args))
        return made[-1]

    yield make
    for cmd in made:
        cmd.reap()


@pytest.fixture
def cli_args(tmp_path: Path, appliance_config: Path) -> tuple[str | Path, ...]:
    return ("--config", appliance_config, "--data-dir", tmp_path / "data")


@pytest.mark.slow
def test_sigkill_at_random_moments_of_an_ingest_loses_and_duplicates_nothing(
    tmp_path: Path, cli_args: tuple[str | Path, ...], command: Callable[..., Command]
) -> None:
    eve = tmp_path / "eve.json"
    lines = write_eve_file(eve, 200_000, seed=60)
    store = tmp_path / "data" / "spanwatch.db"
    cmd = command("ingest", *cli_args, eve)
    rng = random.Random(KILL_SEED)
    stored_at_kill: list[int] = []
    # Kill points spread over the file whatever the machine's speed: a few during
    # start-up (opening, migrating, resuming), the others a random while after the
    # store passed a random count, that is inside a later batch or its commit.
    for target in sorted(rng.sample(range(1000, len(lines)), 8)):
        proc = cmd.start()
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.05, 0.6))
        else:
            wait_for(lambda: proc.poll() is not None or count_stored(store) >= target)
            time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is not None:
            break  # done before its kill
        cmd.kill()
        stored_at_kill.append(count_stored(store))
    assert cmd.start().wait(timeout=180) == 0, cmd.logs()
    assert len(stored_at_kill) >= 6, "the ingest finished too soon to be killed often"
    assert any(0 < n < len(lines) for n in stored_at_kill), stored_at_kill
    assert stored_at_kill == sorted(stored_at_kill), "stored events disappeared"
    assert_same_records(line_records(lines), stored_records(store))
    assert read_dead_letters(tmp_path / "data") == []
    assert "Traceback" not in cmd.logs()


@pytest.mark.slow
def test_sigkill_of_a_follower_across_rename_and_copytruncate_rotations(
    tmp_path: Path, cli_args: tuple[str | Path, ...], command: Callable[..., Command]
) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    store = tmp_path / "data" / "spanwatch.db"
    writer = RotatingWriter(folder / "eve.json", EveGenerator(61))
    cmd = command("ingest", "--follow", *cli_args, writer.path)
    writer.start()
    kills = _kill_while(cmd, random.Random(KILL_SEED + 1), writer, least=6)
    writer.finish()
    cmd.start()
    # The follower gets everything but the part of the copytruncated file it had not
    # read before the truncation: that part exists only in the copy.
    live = line_records([*writer.phases["first"], *writer.phases["late"], *writer.phases["third"]])
    wait_for(lambda: holds_all(store, live), timeout=60, what="the followed lines")
    assert cmd.terminate() == 0, cmd.logs()
    everything = line_records(writer.written)
    before = stored_records(store)
    assert not before - everything, describe_difference(everything, before)
    done = run_spanwatch("ingest", *cli_args, folder / RotatingWriter.copy_name, timeout=120)
    assert done.returncode == 0, done.stderr
    after = stored_records(store)
    assert after - before == everything - before, "the copy added other lines than the missing"
    assert_same_records(everything, after)
    assert read_dead_letters(tmp_path / "data") == []
    assert "Traceback" not in cmd.logs(), cmd.logs()
    assert kills >= 6


@pytest.mark.slow
def test_sigkill_of_an_attached_sensor_while_suricata_writes(
    tmp_path: Path, cli_args: tuple[str | Path, ...], command: Callable[..., Command]
) -> None:
    """``spanwatch sensor --attach`` follows data_dir/sensors/IF/eve.json, no Suricata."""
    eve = tmp_path / "data" / "sensors" / "span0" / "eve.json"
    eve.parent.mkdir(parents=True)
    store = tmp_path / "data" / "spanwatch.db"
    # Recent timestamps: the sensor applies the retention budgets (30 days of metadata).
    writer = BurstWriter(eve, EveGenerator(62, start=time.time() - 3600))
    cmd = command("sensor", "--attach", "--interface", "span0", *cli_args)
    writer.start()
    kills = _kill_while(cmd, random.Random(KILL_SEED + 2), writer, least=5)
    writer.finish()
    cmd.start()
    expected = line_records(writer.written)
    wait_for(lambda: count_stored(store) >= len(writer.written), timeout=60, what="all lines")
    assert cmd.terminate() == 0, cmd.logs()
    assert_same_records(expected, stored_records(store))
    assert read_dead_letters(tmp_path / "data") == []
    assert "Traceback" not in cmd.logs(), cmd.logs()
    assert kills >= 5


def test_stopping_an_attached_sensor_mid_line_loses_nothing(
    tmp_path: Path, cli_args: tuple[str | Path, ...], command: Callable[..., Command]
) -> None:
    """Suricata (run by systemd) goes on writing while the attached sensor restarts."""
    eve = tmp_path / "data" / "sensors" / "span0" / "eve.json"
    eve.parent.mkdir(parents=True)
    store = tmp_path / "data" / "spanwatch.db"
    gen = EveGenerator(65, start=time.time() - 3600)
    head = gen.write(eve, 100)
    split, *tail = gen.lines(51)
    cmd = command("sensor", "--attach", "--interface", "span0", *cli_args)
    with open(eve, "ab", buffering=0) as fh:
        cmd.start()
        wait_for(lambda: count_stored(store) == len(head), what="the first lines")
        fh.write(split[:70])
        time.sleep(0.5)  # the sensor polls the half line
        assert cmd.terminate() == 0, cmd.logs()
        fh.write(split[70:] + b"\n" + b"".join(line + b"\n" for line in tail))
    cmd.start()
    rest = line_records(tail)
    wait_for(lambda: holds_all(store, rest), timeout=30, what="the later lines")
    assert cmd.terminate() == 0, cmd.logs()
    assert read_dead_letters(tmp_path / "data") == []
    assert_same_records(line_records([*head, split, *tail]), stored_records(store))


def test_a_follower_of_two_files_stores_both(
    tmp_path: Path, cli_args: tuple[str | Path, ...], command: Callable[..., Command]
) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    lines = write_eve_file(one, 20_000, seed=66) + write_eve_file(two, 20_000, seed=67)
    store = tmp_path / "data" / "spanwatch.db"
    cmd = command("ingest", "--follow", *cli_args, one, two)
    proc = cmd.start()
    wait_for(lambda: proc.poll() is not None or count_stored(store) == len(lines), timeout=60)
    assert proc.poll() is None, cmd.logs()
    assert cmd.terminate() == 0, cmd.logs()
    assert_same_records(line_records(lines), stored_records(store))


# -- a full disk -------------------------------------------------------------------------


BAD = {b"{not json": "bad-json", b"[1,2]": "not-an-object", b"\xff\xfe": "not-utf8",
       b'{"timestamp":"yesterday","event_type":"dns"}': "bad-timestamp"}  # fmt: skip


def _bad_input(path: Path, seed: int) -> tuple[list[bytes], dict[int, bytes]]:
    """20,000 good lines with the ``BAD`` lines among them: (good lines, {offset: bad})."""
    gen = EveGenerator(seed)
    good: list[bytes] = []
    bad: dict[int, bytes] = {}
    content = b""
    for junk in BAD:
        part = gen.lines(5000)
        content += b"\n".join(part) + b"\n"
        bad[len(content)] = junk
        content += junk + b"\n"
        good += part
    path.write_bytes(content)
    return good, bad


def _check_after_the_rerun(
    args: tuple[str | Path, ...], good: list[bytes], bad: dict[int, bytes]
) -> None:
    """Every good line stored once; every bad line counted once and dead-lettered."""
    data = Path(args[-1])
    assert_same_records(line_records(good), stored_records(data / "spanwatch.db"))
    stats = run_spanwatch("stats", "--json", *args, timeout=60)
    assert stats.returncode == 0, stats.stderr
    expected = {f"dead_letter.{reason}": 1 for reason in BAD.values()}
    assert json.loads(stats.stdout)["counters"] == expected
    # A letter may be there twice (written before its batch failed), or torn by ENOSPC.
    letters = read_dead_letters(data, skip_torn=True)
    assert {letter["offset"] for letter in letters} == set(bad)
    for letter in letters:
        raw = bad[letter["offset"]]
        assert letter["reason"] == BAD[raw]
        assert letter["line"] == raw.decode() if raw.isascii() else letter["line"] is None


def test_a_full_disk_stops_ingest_clearly_and_a_rerun_stores_everything_once(
    tmp_path: Path, appliance_config: Path, small_tmpfs: Path
) -> None:
    eve = tmp_path / "eve.json"
    good, bad = _bad_input(eve, seed=63)
    data = small_tmpfs / "data"
    args = ("--config", appliance_config, "--data-dir", data)
    full = run_spanwatch("ingest", *args, eve, timeout=120)
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("spanwatch: error: Cannot write "), last
    assert "full" in last or "No space left on device" in last, last
    assert count_stored(data / "spanwatch.db") < len(good)
    # Free space, run again: the rest, nothing twice.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    again = run_spanwatch("ingest", *args, eve, timeout=120)
    assert again.returncode == 0, again.stderr
    _check_after_the_rerun(args, good, bad)


def test_a_full_disk_stops_a_follower_with_an_error(
    tmp_path: Path, appliance_config: Path, small_tmpfs: Path
) -> None:
    eve = tmp_path / "eve.json"
    _bad_input(eve, seed=68)
    args = ("--config", appliance_config, "--data-dir", small_tmpfs / "data")
    full = run_spanwatch("ingest", "--follow", *args, eve, timeout=120)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr
    assert full.stderr.strip().splitlines()[-1].startswith("spanwatch: error: Cannot write ")


def _limit_file_size() -> None:
    # Without SIGXFSZ a write beyond the limit fails with EFBIG instead of killing.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * MiB, 2 * MiB))


def test_a_file_size_limit_stops_ingest_as_a_write_error_and_a_rerun_stores_everything_once(
    tmp_path: Path, cli_args: tuple[str | Path, ...]
) -> None:
    """The unprivileged stand-in for a full disk: RLIMIT_FSIZE on the subprocess."""
    eve = tmp_path / "eve.json"
    good, bad = _bad_input(eve, seed=64)
    data = tmp_path / "data"
    argv = spanwatch_argv("ingest", *cli_args, eve)
    limited = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size
    )
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr
    last = limited.stderr.strip().splitlines()[-1]
    assert last.startswith("spanwatch: error: Cannot write to the store"), last
    assert count_stored(data / "spanwatch.db") < len(good)
    again = run_spanwatch("ingest", *cli_args, eve, timeout=120)
    assert again.returncode == 0, again.stderr
    _check_after_the_rerun(cli_args, good, bad)
