"""The unix-socket client against a real ``suricata --unix-socket`` (pcap mode)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.config import AppConfig
from appliance.errors import SuricataCommandError, SuricataConnectionError
from appliance.suricata import command, render
from appliance.suricata.control import SuricataControl

CASE = "suricata-verify/alert-testmyids-midstream"


class SocketSuricata:
    """A Suricata process in unix-socket mode, and where it lives."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: Path, work: Path) -> None:
        self.proc = proc
        self.sock = sock
        self.work = work


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _socket_suricata(work: Path, cfg: AppConfig, rules: Path) -> Iterator[SocketSuricata]:
    log_dir = work / "log"
    config = render.write_suricata_config(work / "suricata.yaml", cfg, log_dir=log_dir,
                                          rule_files=[rules])  # fmt: skip
    sock = work / "s.sock"
    argv = command.unix_socket_argv(cfg.suricata.binary, config, sock, log_dir)
    with open(work / "stdout.txt", "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: sock.exists() or proc.poll() is not None, 15.0)
        assert proc.poll() is None, (work / "stdout.txt").read_text()
        yield SocketSuricata(proc, sock, work)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def suricata_socket(short_dir: Path, suricata_bin: str, testdata: Path) -> Iterator[SocketSuricata]:
    cfg = AppConfig.model_validate({"suricata": {"binary": suricata_bin},
                                    "data_dir": str(short_dir / "data")})  # fmt: skip
    with _socket_suricata(short_dir, cfg, testdata / CASE / "test.rules") as running:
        yield running


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def _eve(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.suricata
def test_handshake_version_uptime_and_mode(suricata_socket: SocketSuricata) -> None:
    with SuricataControl(suricata_socket.sock) as control:
        assert control.is_connected
        assert control.version().startswith("7.")
        assert control.uptime() >= 0
        assert control.capture_mode() == "UNIX_SOCKET"
    assert not control.is_connected


@pytest.mark.suricata
def test_reload_rules_keeps_ruleset_loaded(suricata_socket: SocketSuricata) -> None:
    with SuricataControl(suricata_socket.sock) as control:
        control.reload_rules()
        stats = control.ruleset_stats()
    assert stats[0]["rules_loaded"] == 1
    assert stats[0]["rules_failed"] == 0


@pytest.mark.suricata
def test_pcap_file_is_processed_into_output_dir(
    suricata_socket: SocketSuricata, testdata: Path
) -> None:
    out = suricata_socket.work / "out"
    render.prepare_log_dir(AppConfig(), out)
    with SuricataControl(suricata_socket.sock) as control:
        assert control.pcap_file_list() == []
        control.pcap_file(testdata / CASE / "input.pcap", out)
        control.wait_pcap_done(timeout=30)
        assert control.pcap_file_number() == 0
        assert control.pcap_current() is None

    def has_alert() -> bool:
        return any(e["event_type"] == "alert" for e in _eve(out / render.EVE_FILENAME))

    _wait_for(has_alert, 10.0)
    alerts = [e for e in _eve(out / render.EVE_FILENAME) if e["event_type"] == "alert"]
    assert alerts[0]["alert"]["signature_id"] == 2100498  # type: ignore[index]


@pytest.mark.suricata
def test_the_first_threshold_file_takes_effect_on_reload_without_a_restart(
    suricata_socket: SocketSuricata, testdata: Path
) -> None:
    # The rules page's first suppression creates threshold.config after the sensor started;
    # the core then only reloads the rules.
    def alerts_of(run: str) -> list[object]:
        out = suricata_socket.work / run
        render.prepare_log_dir(AppConfig(), out)
        with SuricataControl(suricata_socket.sock) as control:
            control.pcap_file(testdata / CASE / "input.pcap", out)
            control.wait_pcap_done(timeout=30)
        _wait_for(lambda: (out / render.EVE_FILENAME).exists(), 10.0)
        time.sleep(0.3)  # the last records of the run
        return [e for e in _eve(out / render.EVE_FILENAME) if e["event_type"] == "alert"]

    assert alerts_of("before")
    rules_dir = suricata_socket.work / "data" / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / "threshold.config").write_text("suppress gen_id 1, sig_id 2100498\n")
    with SuricataControl(suricata_socket.sock) as control:
        control.reload_rules()
    assert alerts_of("after") == []


@pytest.mark.suricata
def test_unknown_command_raises_with_suricata_message(suricata_socket: SocketSuricata) -> None:
    with SuricataControl(suricata_socket.sock) as control:
        with pytest.raises(SuricataCommandError, match="Unknown command"):
            control.command("no-such-command")
        # NOK does not break the connection.
        assert control.version().startswith("7.")


@pytest.mark.suricata
def test_pcap_file_missing_capture_is_refused(suricata_socket: SocketSuricata) -> None:
    with SuricataControl(suricata_socket.sock) as control:
        with pytest.raises(SuricataCommandError, match="does not exist"):
            control.pcap_file(suricata_socket.work / "missing.pcap", suricata_socket.work)


@pytest.mark.suricata
def test_iface_list_is_refused_in_pcap_mode(suricata_socket: SocketSuricata) -> None:
    with SuricataControl(suricata_socket.sock) as control:
        with pytest.raises(SuricataCommandError):
            control.iface_list()


@pytest.mark.suricata
def test_shutdown_ends_the_process(suricata_socket: SocketSuricata) -> None:
    control = SuricataControl(suricata_socket.sock)
    control.shutdown()
    assert not control.is_connected
    assert suricata_socket.proc.wait(timeout=15) == 0


def test_missing_socket_raises_connection_error(short_dir: Path) -> None:
    control = SuricataControl(short_dir / "none.sock", timeout=1.0)
    with pytest.raises(SuricataConnectionError, match="none.sock"):
        control.connect()
    with pytest.raises(SuricataConnectionError):
        control.version()


def _serve_once(sock_path: Path, chunks: list[bytes]) -> threading.Thread:
    """A peer that answers the handshake with ``chunks``, sent one by one."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(4096)
            for chunk in chunks:
                conn.sendall(chunk)
                time.sleep(0.05)
            conn.recv(4096)  # wait for the client to hang up

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_reply_split_across_reads_is_reassembled(short_dir: Path) -> None:
    thread = _serve_once(short_dir / "p.sock", [b'{"ret', b'urn": "O', b'K"}\n'])
    with SuricataControl(short_dir / "p.sock", timeout=2.0) as control:
        assert control.is_connected
    thread.join(timeout=2)


def test_silent_peer_times_out(short_dir: Path) -> None:
    thread = _serve_once(short_dir / "q.sock", [])
    control = SuricataControl(short_dir / "q.sock", timeout=0.3)
    with pytest.raises(SuricataConnectionError, match="did not answer"):
        control.connect()
    assert not control.is_connected
    thread.join(timeout=2)


def test_refused_handshake_raises_connection_error(short_dir: Path) -> None:
    thread = _serve_once(short_dir / "r.sock", [b'{"return": "NOK"}\n'])
    with pytest.raises(SuricataConnectionError, match="refused"):
        SuricataControl(short_dir / "r.sock", timeout=2.0).connect()
    thread.join(timeout=2)
