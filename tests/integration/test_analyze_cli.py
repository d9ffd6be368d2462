"""``spanwatch analyze`` from the command line: bad inputs, several captures, JSON shape,
re-analysis and Suricata failures, always checking what the store holds afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import struct
import subprocess
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.cli import main as spanwatch_main
from appliance.store import EventQuery, open_store
from tests.helpers import cli
from tests.helpers.eve import wait_for

DATA = cli.testdata_dir()
PCAPS = DATA / "pcaps"
VERIFY = DATA / "suricata-verify"
BASIC_AUTH = PCAPS / "cleartext-creds" / "zeek_basic-auth-with-colon.pcap"
LOG4J = PCAPS / "exploit" / "ndpi_log4j-webapp-exploit.pcap"
DNS_TXT = PCAPS / "dns-tunneling" / "pcapattack_cmds_over_dns_txt_queries_and_reponses.pcap"
OS_PROBES = PCAPS / "portscan" / "chrissanders_activeosfingerprinting.pcapng"
#: ET Open signatures that fire on the three captures above.
ET_SIDS = (2006380, 2034659, 2034781, 2043164, 2043165)

SUMMARY_KEYS = {"file", "packets", "events_by_type", "alerts_by_sid", "alerts", "findings",
                "alerts_by_severity", "top_talkers", "incidents"}  # fmt: skip
INCIDENT_KEYS = {"id", "title", "severity", "stages", "attackers", "victims", "first_seen",
                 "last_seen"}  # fmt: skip
ALERT_KEYS = {"sid", "signature", "category", "severity", "count"}


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An appliance.yaml with its own data directory and no rules of its own."""
    path = tmp_path / "appliance.yaml"
    data = {"sensor": {"name": "cli-test"}, "data_dir": str(tmp_path / "data"),
            "rules": {"local": [], "sources": []}}  # fmt: skip
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def et_rules(tmp_path: Path) -> Path:
    """The few ET Open rules for the test captures (all of ET Open takes ~8 s to load)."""
    wanted = re.compile(r"\bsid:\s*(" + "|".join(map(str, ET_SIDS)) + r");")
    lines = [line for path in sorted((DATA / "rules" / "et-open").glob("*.rules"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#") and wanted.search(line)]  # fmt: skip
    assert len(lines) == len(ET_SIDS)
    path = tmp_path / "et.rules"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def analyze(config: Path, capsys: Any, *args: str | Path) -> tuple[int, str, str]:
    """``spanwatch analyze`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = spanwatch_main(["analyze", "--config", str(config), "-q", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def stored_events(config: Path) -> int:
    """Events in the store of ``config``'s data directory (0 when it was never created)."""
    path = Path(yaml.safe_load(config.read_text())["data_dir"]) / "spanwatch.db"
    if not path.exists():
        return 0
    store = open_store(path, readonly=True)
    try:
        return store.count_events(EventQuery())
    finally:
        store.close()


def pcap_record_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, captured length) of every record of a little-endian pcap."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    records, pos = [], 24
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        records.append((pos, caplen))
        pos += 16 + caplen
    return records


def pcapng_packet_blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every packet block of a little-endian pcapng."""
    blocks, pos = [], 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        if block_type in (2, 3, 6):
            blocks.append((pos, length))
        pos += length
    return blocks


# -- bad inputs ----------------------------------------------------------------------------


def _missing(tmp: Path) -> tuple[Path, str]:
    return tmp / "nothing-here.pcap", "no such file"


def _directory(tmp: Path) -> tuple[Path, str]:
    (tmp / "captures").mkdir()
    return tmp / "captures", "not a regular file"


def _text(tmp: Path) -> tuple[Path, str]:
    (tmp / "notes.pcap").write_text("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    return tmp / "notes.pcap", "not a pcap or pcapng capture"


def _empty(tmp: Path) -> tuple[Path, str]:
    (tmp / "empty.pcap").write_bytes(b"")
    return tmp / "empty.pcap", "the file is empty"


def _truncated_pcap(tmp: Path) -> tuple[Path, str]:
    data = BASIC_AUTH.read_bytes()
    offset, caplen = pcap_record_offsets(data)[5]
    (tmp / "cut.pcap").write_bytes(data[: offset + 16 + caplen // 2])
    return tmp / "cut.pcap", "truncated after packet 5"


def _truncated_pcapng(tmp: Path) -> tuple[Path, str]:
    data = OS_PROBES.read_bytes()
    offset, length = pcapng_packet_blocks(data)[7]
    (tmp / "cut.pcapng").write_bytes(data[: offset + length // 2])
    return tmp / "cut.pcapng", "truncated after packet 7"


def _header_only(tmp: Path) -> tuple[Path, str]:
    (tmp / "header.pcap").write_bytes(BASIC_AUTH.read_bytes()[:24])
    return tmp / "header.pcap", "holds no packets"


@pytest.mark.parametrize("make_input", [_missing, _directory, _text, _empty, _truncated_pcap,
                                        _truncated_pcapng, _header_only])  # fmt: skip
def test_bad_capture_is_refused_and_nothing_is_stored(
    make_input: Any, tmp_path: Path, config: Path, capsys: Any
) -> None:
    path, message = make_input(tmp_path)
    code, out, err = analyze(config, capsys, "--json", "--rules", _no_rules(tmp_path), path)
    assert code == 1
    assert out == ""
    assert err.startswith(f"spanwatch: error: {path}: ")
    assert message in err
    assert stored_events(config) == 0


def _no_rules(tmp: Path) -> Path:
    path = tmp / "none.rules"
    path.write_text("", encoding="utf-8")
    return path


def test_one_bad_capture_among_good_ones_stores_nothing(
    tmp_path: Path, config: Path, capsys: Any
) -> None:
    bad, message = _truncated_pcap(tmp_path)
    rules = _no_rules(tmp_path)
    code, _out, err = analyze(config, capsys, "--rules", rules, BASIC_AUTH, bad, LOG4J)
    assert code == 1 and message in err
    assert stored_events(config) == 0


def test_bad_capture_exit_status_through_the_console_script(tmp_path: Path, config: Path) -> None:
    path, message = _empty(tmp_path)
    proc = cli.run_spanwatch("analyze", "--config", config, "-q", "--rules", _no_rules(tmp_path),
                             path, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert message in proc.stderr and proc.stdout == ""
    assert stored_events(config) == 0


def test_a_store_that_cannot_open_stops_suricata_and_leaves_no_run(
    tmp_path: Path, config: Path, capsys: Any
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "spanwatch.db").write_bytes(b"not a database, " * 64)  # damaged, not ours to fix
    code, _out, err = analyze(config, capsys, "--rules", _no_rules(tmp_path), LOG4J)
    assert code == 1
    assert "Cannot open the store" in err and str(data / "spanwatch.db") in err
    assert not (data / "runs").exists() or not any((data / "runs").iterdir())
    assert not _suricata_running_on(data)
    assert (data / "spanwatch.db").read_bytes() == b"not a database, " * 64


def _suricata_running_on(data: Path) -> bool:
    """Whether a Suricata process writes into ``data`` (killed ones are gone or zombies)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"suricata" in cmd and str(data).encode() in cmd and state != "Z":
            return True
    return False


def test_risk_scores_after_an_analysis_count_the_incidents_it_made(
    tmp_path: Path, config: Path, capsys: Any
) -> None:
    # The inventory reads the store beside the ingest, but scores risk only once the
    # analysis has correlated: the incident must be among the stored factors.
    from appliance.config import load_config
    from appliance.service import Service

    code, out, _err = analyze(config, capsys, "--json", "--rules", _no_rules(tmp_path),
                              PCAPS / "brute-force" / "zeek_sshguess.pcap")  # fmt: skip
    assert code == 0
    (incident,) = json.loads(out)["total"]["incidents"]
    service = Service(load_config(config))
    try:
        stored = dict(service.risk.top(5))
    finally:
        service.close()
    assert set(incident["attackers"]) | set(incident["victims"]) <= set(stored)
    for score in stored.values():
        assert f"incident:{incident['id']}" in [f.name for f in score.factors]


# -- several captures ----------------------------------------------------------------------


def test_captures_are_queued_oldest_first() -> None:
    from sensors.capturefile import CaptureInfo
    from sensors.engine import queue_order

    def info(name: str, first: float | None) -> CaptureInfo:
        return CaptureInfo(Path(name), name.rsplit(".")[-1], 1, 100, first, first)

    infos = [info("2024.pcap", 1.7e9), info("simple.pcapng", None), info("2021.pcapng", 1.6e9),
             info("2020.pcap", 1.59e9), info("simple-too.pcapng", None)]  # fmt: skip
    # Oldest traffic first; captures with no packet time keep their turn, last.
    assert queue_order(infos) == [3, 2, 0, 1, 4]


@pytest.mark.suricata
def test_captures_given_newest_first_are_queued_oldest_first_and_reported_as_given(
    config: Path, capsys: Any
) -> None:
    captures = [BASIC_AUTH, LOG4J, DNS_TXT]  # 2024, 2021, 2020
    code, out, err = analyze(config, capsys, "--json", "--checksum", "none", *captures)
    assert code == 0, err
    assert [c["file"] for c in json.loads(out)["captures"]] == [str(p) for p in captures]
    data = Path(yaml.safe_load(config.read_text())["data_dir"])
    (log,) = data.glob("runs/*/suricata.log")
    started = re.findall(r"Starting run for '([^']+)'", log.read_text())
    assert started == [str(p.absolute()) for p in reversed(captures)]


@pytest.mark.suricata
def test_several_captures_are_summarized_one_by_one(
    tmp_path: Path, config: Path, et_rules: Path, capsys: Any
) -> None:
    captures = [BASIC_AUTH, LOG4J, DNS_TXT]
    code, out, err = analyze(config, capsys, "--json", "--checksum", "none",
                             "--rules", et_rules, *captures)  # fmt: skip
    assert code == 0, err
    together = json.loads(out)
    assert [c["file"] for c in together["captures"]] == [str(p) for p in captures]
    for index, capture in enumerate(captures):
        single_cfg = tmp_path / f"single-{index}.yaml"
        single_cfg.write_text(config.read_text().replace("/data", f"/data-{index}"))
        code, out, err = analyze(single_cfg, capsys, "--json", "--checksum", "none",
                                 "--rules", et_rules, capture)  # fmt: skip
        assert code == 0, err
        alone = json.loads(out)["captures"][0]
        part = together["captures"][index]
        assert part["alerts_by_sid"] == alone["alerts_by_sid"]
        # Flow records are the one exception: Suricata in unix-socket mode and `-r` alone
        # may time one flow out differently (seen: 111 against 110), so flows agree to 2%.
        types, types_alone = dict(part["events_by_type"]), dict(alone["events_by_type"])
        flows, flows_alone = types.pop("flow", 0), types_alone.pop("flow", 0)
        assert abs(flows - flows_alone) <= max(1, flows_alone // 50)
        assert types == types_alone
        assert part["packets"] == alone["packets"]
    assert together["total"]["alerts_by_sid"] == _summed(together["captures"], "alerts_by_sid")
    assert together["total"]["events_by_type"] == _summed(together["captures"], "events_by_type")
    assert together["total"]["packets"] == sum(c["packets"] for c in together["captures"])
    assert {int(s) for s in together["total"]["alerts_by_sid"]} == set(ET_SIDS)
    assert stored_events(config) == sum(sum(c["events_by_type"].values())
                                        for c in together["captures"])  # fmt: skip


def _summed(parts: list[dict[str, Any]], key: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for name, count in part[key].items():
            total[name] = total.get(name, 0) + count
    return total


# -- output shape --------------------------------------------------------------------------


@pytest.mark.suricata
def test_json_output_has_the_documented_shape(config: Path, et_rules: Path, capsys: Any) -> None:
    code, out, err = analyze(config, capsys, "--json", "--checksum", "none", "--rules", et_rules,
                             BASIC_AUTH)  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"captures", "total"}
    (capture,) = result["captures"]
    assert set(capture) == SUMMARY_KEYS
    # The total is the same shape, less the file name it has no single value for.
    assert set(result["total"]) == SUMMARY_KEYS - {"file"}
    for summary in (capture, result["total"]):
        assert isinstance(summary["packets"], int) and summary["packets"] > 0
        assert all(isinstance(n, int) for n in summary["events_by_type"].values())
        assert all(k.isdigit() and isinstance(n, int) for k, n in summary["alerts_by_sid"].items())
        assert all(set(a) == ALERT_KEYS for a in summary["alerts"])
        assert {str(a["sid"]): a["count"] for a in summary["alerts"]} == summary["alerts_by_sid"]
        assert sum(summary["alerts_by_severity"].values()) == summary["events_by_type"]["alert"]
        assert all(set(t) == {"ip", "bytes"} for t in summary["top_talkers"])
        assert isinstance(summary["findings"], list)
        assert all(set(i) >= INCIDENT_KEYS for i in summary["incidents"])
    assert capture["file"] == str(BASIC_AUTH)
    assert capture["alerts_by_sid"] == {"2006380": 1}


# -- analysing the same capture twice ------------------------------------------------------



@pytest.mark.suricata
@pytest.mark.parametrize("capture, rules", [
    pytest.param(BASIC_AUTH, None, id="first-record-has-a-flow-id"),
    pytest.param(VERIFY / "udp-5379" / "udp-len-invalid" / "input.pcap",
                 VERIFY / "udp-5379" / "udp-len-invalid" / "test.rules",
                 id="flowless-first-record"),
])  # fmt: skip
def test_analyzing_a_capture_twice_stores_two_runs(
    capture: Path, rules: Path | None, config: Path, et_rules: Path, capsys: Any
) -> None:
    args: list[str | Path] = ["--json", "--checksum", "none", "--rules", rules or et_rules, capture]
    code, out, err = analyze(config, capsys, *args)
    assert code == 0, err
    first = json.loads(out)["total"]
    code, out, err = analyze(config, capsys, *args)
    assert code == 0, err
    second = json.loads(out)["total"]
    # Each run reports what its own Suricata saw...
    assert second["alerts_by_sid"] == first["alerts_by_sid"]
    assert second["events_by_type"] == first["events_by_type"]
    # ...and, being a new analysis, is kept next to the first one.
    assert stored_events(config) == 2 * sum(first["events_by_type"].values())


@pytest.mark.suricata
@pytest.mark.parametrize("files", [1, 2])
def test_rules_given_replace_those_of_a_given_suricata_config(
    files: int, tmp_path: Path, config: Path, et_rules: Path, capsys: Any
) -> None:
    # The config's own rule (any HTTP) would fire too; --rules (one file, or several)
    # say which rules run instead. A second file of ours that matches nothing.
    (tmp_path / "own.rules").write_text(
        'alert http any any -> any any (msg:"own"; sid:9100001;)\n', encoding="utf-8"
    )
    (tmp_path / "quiet.rules").write_text(
        'alert tcp any any -> any any (msg:"quiet"; content:"zq-nothing-qz"; sid:9100002;)\n',
        encoding="utf-8",
    )
    suricata_yaml = tmp_path / "own.yaml"
    suricata_yaml.write_text(_SPLIT_EVE + f"default-rule-path: {tmp_path}\n"
                             "rule-files: [own.rules]\n", encoding="utf-8")  # fmt: skip
    rules = [et_rules, tmp_path / "quiet.rules"][:files]
    code, out, err = analyze(config, capsys, "--json", "--suricata-config", suricata_yaml,
                             *[a for r in rules for a in ("--rules", r)], BASIC_AUTH)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["total"]["alerts_by_sid"] == {"2006380": 1}


def _processes_naming(*parts: str) -> list[int]:
    """Processes whose command line names one of ``parts``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and any(part in cmdline for part in parts):
            found.append(int(proc.name))
    return found


def _recorded_captures(config: Path) -> int:
    return _recorded_captures_in(Path(yaml.safe_load(config.read_text())["data_dir"]))


def _recorded_captures_in(data: Path) -> int:
    path = data / "spanwatch.db"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            return int(conn.execute("SELECT count(DISTINCT path) FROM captures").fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # (not created yet)


def _stopped_midway(config: Path, et_rules: Path, signum: int) -> tuple[int, str]:
    """An analysis of several captures (one Suricata) sent ``signum`` once the first
    capture is recorded, with the others still to come: (exit status, stderr)."""
    captures = [BASIC_AUTH, DNS_TXT, PCAPS / "dos" / "stopddos_pkt.TCP.synflood.spoofed.pcap"]
    proc = subprocess.Popen(cli.spanwatch_argv("analyze", "--config", config, "-q", "--rules",
                                               et_rules, *captures),  # fmt: skip
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _recorded_captures(config) > 0 or proc.poll() is not None,
                 timeout=120, what="the first capture recorded")  # fmt: skip
        assert proc.poll() is None, "the analysis ended before it could be stopped"
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err


@pytest.mark.suricata
def test_an_analysis_killed_midway_is_rolled_back_by_the_next(
    config: Path, et_rules: Path, capsys: Any
) -> None:
    # Its events stay until the next analysis, which removes them (the kernel released the
    # killed one's lock on its run folder) with the folder.
    _stopped_midway(config, et_rules, signal.SIGKILL)
    assert stored_events(config) > 0
    data = Path(yaml.safe_load(config.read_text())["data_dir"])
    (stale,) = (data / "runs").iterdir()
    # Nothing of it lives on: not its helpers, nor its Suricata (in unix-socket mode it
    # would wait for the next capture for ever).
    wait_for(lambda: not _processes_naming(str(config), str(stale)), timeout=10,
             what="the killed analysis's helpers and Suricata to end")  # fmt: skip
    code, out, err = analyze(config, capsys, "--json", "--rules", et_rules, BASIC_AUTH)
    assert code == 0, err
    assert f"The analysis in {stale} did not finish" in err
    assert stored_events(config) == sum(json.loads(out)["total"]["events_by_type"].values())
    assert _recorded_captures(config) == 1
    assert [p.name for p in (data / "runs").iterdir()] != [stale.name]


@pytest.mark.suricata
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_or_terminated_analysis_stores_nothing_and_leaves_nothing_running(
    signum: int, config: Path, et_rules: Path
) -> None:
    # Ctrl-C, or `timeout` and service stops (SIGTERM): the analysis removes what it
    # stored, at once, and its Suricata stops.
    code, err = _stopped_midway(config, et_rules, signum)
    assert code == 130 and err.strip().endswith("spanwatch: interrupted"), err
    assert stored_events(config) == 0 and _recorded_captures(config) == 0
    wait_for(lambda: not _processes_naming(str(config)), timeout=10,
             what="the analysis's helpers and Suricata to end")  # fmt: skip


@pytest.mark.suricata
def test_a_full_disk_fails_an_analysis_clearly_and_the_next_one_stores_it_whole(
    config: Path, et_rules: Path, small_tmpfs: Path
) -> None:
    # The store made by a first, small analysis, then a capture whose EVE output fills the
    # disk: a one-line error; with room made, the same analysis stores everything once
    # (what the failed one may have left is removed).
    subprocess.run(["mount", "-o", "remount,size=12m", str(small_tmpfs)], check=True)
    data = small_tmpfs / "data"
    args = ("analyze", "--config", config, "--data-dir", data, "-q", "--json", "--rules",
            et_rules)  # fmt: skip
    assert cli.run_spanwatch(*args, BASIC_AUTH).returncode == 0
    flood = PCAPS / "dos" / "stopddos_pkt.TCP.synflood.spoofed.pcap"
    full = cli.run_spanwatch(*args, flood)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("spanwatch: error: ") and "disk is full" in last, last  # (both ways
    # SQLite says it, "database or disk is full" or "disk I/O error": the hint says it)
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_tmpfs)], check=True)
    again = cli.run_spanwatch(*args, flood)
    assert again.returncode == 0, again.stderr
    store = open_store(data / "spanwatch.db", readonly=True)
    try:
        by_type = store.stats().events_by_type
    finally:
        store.close()
    flood_types = json.loads(again.stdout)["total"]["events_by_type"]
    assert by_type["flow"] == flood_types["flow"] + 1  # (the first capture's one flow)
    assert _recorded_captures_in(data) == 2
    wait_for(lambda: not _processes_naming(str(data)), timeout=10, what="nothing left running")


def _stored_flow_ids(config: Path) -> set[int]:
    store = open_store(Path(yaml.safe_load(config.read_text())["data_dir"]) / "spanwatch.db",
                       readonly=True)  # fmt: skip
    try:
        return {e["flow_id"] for e in store.events(EventQuery()) if e.get("flow_id")}
    finally:
        store.close()


@pytest.mark.suricata
@pytest.mark.parametrize("no_random", [True, False])
def test_no_random_gives_the_same_flow_ids_on_every_run(
    no_random: bool, config: Path, et_rules: Path, capsys: Any
) -> None:
    args = ["--checksum", "none", "--rules", et_rules, BASIC_AUTH]
    if no_random:
        args.insert(0, "--no-random")
    ids = []
    for _ in range(2):
        code, _out, err = analyze(config, capsys, *args)
        assert code == 0, err
        ids.append(_stored_flow_ids(config))
    assert ids[0]
    # Suricata seeds its flow hash at random unless told not to: new ids each run.
    assert (ids[1] == ids[0]) == no_random


# -- Suricata failures ---------------------------------------------------------------------


@pytest.mark.suricata
def test_suricata_failure_stores_nothing_and_quotes_suricata(
    tmp_path: Path, config: Path, et_rules: Path, capsys: Any
) -> None:
    broken = tmp_path / "suricata.yaml"
    broken.write_text("outputs:\n  - eve-log: [\n", encoding="utf-8")
    code, out, err = analyze(config, capsys, "--suricata-config", broken, "--rules", et_rules,
                             BASIC_AUTH)  # fmt: skip
    assert code == 1 and out == ""
    assert f"Suricata failed on {BASIC_AUTH}" in err
    assert "conf-yaml-loader" in err
    assert stored_events(config) == 0


_SPLIT_EVE = """%YAML 1.1
---
vars:
  address-groups: {HOME_NET: "[10.0.0.0/8,172.16.0.0/12,192.168.0.0/16]",
                   EXTERNAL_NET: "!$HOME_NET", HTTP_SERVERS: "$HOME_NET"}
outputs:
  - eve-log: {enabled: yes, filename: alerts.json, types: [alert, http]}
  - eve-log: {enabled: yes, filename: nsm.json, types: [alert, flow]}
  - eve-log: {enabled: yes, filename: stats.json, types: [stats]}
  - eve-log: {enabled: no, filename: off.json, types: [flow]}
"""


@pytest.mark.suricata
def test_a_config_that_splits_eve_over_files_has_every_record_stored_once(
    tmp_path: Path, config: Path, et_rules: Path, capsys: Any
) -> None:
    # Alerts and HTTP in one file, flows and the alerts again in a second (which begins as
    # the first does), stats in a third: the store holds what the files hold, each once.
    suricata_yaml = tmp_path / "split.yaml"
    suricata_yaml.write_text(_SPLIT_EVE, encoding="utf-8")
    code, out, err = analyze(config, capsys, "--json", "--suricata-config", suricata_yaml,
                             "--rules", et_rules, BASIC_AUTH)  # fmt: skip
    assert code == 0, err
    (run,) = (Path(yaml.safe_load(config.read_text())["data_dir"]) / "runs").glob("*/0")
    written: dict[str, Counter[str]] = {}
    for name in ("alerts.json", "nsm.json", "stats.json"):
        lines = (run / name).read_bytes().splitlines()
        written[name] = Counter(json.loads(line)["event_type"] for line in lines)
    assert not (run / "off.json").exists()
    total = json.loads(out)["total"]
    assert total["events_by_type"] == {
        "alert": written["alerts.json"]["alert"],
        "http": written["alerts.json"]["http"],
        "flow": written["nsm.json"]["flow"],
        "stats": written["stats.json"]["stats"],
    }
    assert written["nsm.json"]["alert"] == written["alerts.json"]["alert"] > 0
    assert total["alerts_by_sid"] and sum(total["alerts_by_sid"].values()) == (
        written["alerts.json"]["alert"]
    )
    assert stored_events(config) == sum(total["events_by_type"].values())


@pytest.mark.suricata
def test_broken_rule_file_fails_the_analysis_and_stores_nothing(
    tmp_path: Path, config: Path, capsys: Any
) -> None:
    rules = tmp_path / "broken.rules"
    rules.write_text('alert http any any -> any any (msg:"x"; nosuchkeyword; sid:1;)\n')
    code, _out, err = analyze(config, capsys, "--rules", rules, BASIC_AUTH)
    assert code == 1
    assert "unknown rule keyword 'nosuchkeyword'" in err
    assert stored_events(config) == 0
