"""Rule updates with suricata-update and ``suricata -T``, and our own local.rules."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from appliance.config import AppConfig
from appliance.errors import RulesError
from appliance.store import EventQuery, open_store
from appliance.suricata import command, render, rules
from appliance.suricata.control import SuricataControl
from appliance.suricata.rules import RuleManager, UpdatePlan
from tests.helpers.cli import REPO
from tests.helpers.login_corpus import corpus_run, verify_run

LOCAL_RULES = REPO / "config" / "rules" / "local.rules"
RULE = 'alert http any any -> any any (msg:"T {sid}"; content:"x{sid}"; sid:{sid}; rev:1;)\n'
BROKEN = 'alert tcp any any -> any any (msg:"broken"; contnt:"a"; sid:9099990; rev:1;)\n'


def _cfg(tmp_path: Path, suricata_bin: str = "/usr/bin/suricata", **rules_cfg: Any) -> AppConfig:
    rules_section = {"local": [str(LOCAL_RULES)], "sources": [], **rules_cfg}
    data = {"data_dir": tmp_path / "data", "suricata": {"binary": suricata_bin}}
    return AppConfig.model_validate({**data, "rules": rules_section})


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _work_dirs(rules_dir: Path) -> list[Path]:
    return [p for p in rules_dir.iterdir() if p.name.startswith(".update-")]


# -- pure helpers ----------------------------------------------------------------------


def test_iter_rules_skips_comments_and_joins_continuations() -> None:
    lines = [
        "# a comment\n",
        "\n",
        '# alert tcp any any -> any any (msg:"disabled"; sid:1;)\n',
        'alert tcp any any -> any any (msg:"a"; \\\n',
        "    sid:2;)\n",
        'drop ip any any -> any any (msg:"b"; sid:3;)\n',
        "config classification: x,y,1\n",
    ]
    found = list(rules.iter_rules(lines))
    assert len(found) == 2
    assert found[0] == 'alert tcp any any -> any any (msg:"a";     sid:2;)'


def test_rule_count_counts_enabled_rules(tmp_path: Path) -> None:
    path = tmp_path / "x.rules"
    path.write_text(RULE.format(sid=1) + "# " + RULE.format(sid=2) + RULE.format(sid=3))
    assert rules.rule_count(path) == 2


@pytest.mark.parametrize("name", ["../evil.rules", "a/../../evil.rules", "/etc/evil.rules", ""])
def test_check_member_name_rejects_escaping_names(name: str) -> None:
    with pytest.raises(ValueError):
        rules.check_member_name(name)


def test_nested_member_names_and_bundle_suffixes_are_accepted() -> None:
    assert rules.check_member_name("rules/et.rules").parts == ("rules", "et.rules")
    names = ["et.tar.gz", "x.TGZ", "a.rules", "d"]
    assert [rules.is_bundle(Path(name)) for name in names] == [True, True, False, False]


def test_update_argv_is_exact() -> None:
    plan = UpdatePlan((Path("/etc/spanwatch/local.rules"),), ("https://example.com/r.tgz",), True)
    argv = rules.update_argv(
        Path("/usr/bin/suricata-update"), plan, suricata=Path("/usr/bin/suricata"),
        suricata_conf=Path("/w/suricata.yaml"), update_conf=Path("/w/update.yaml"),
        data_dir=Path("/var/lib/spanwatch/rules/suricata-update"), output_dir=Path("/w/output"),
    )  # fmt: skip
    assert argv == [
        "/usr/bin/suricata-update", "update", "--config", "/w/update.yaml",
        "--data-dir", "/var/lib/spanwatch/rules/suricata-update", "--suricata", "/usr/bin/suricata",
        "--suricata-conf", "/w/suricata.yaml", "--output", "/w/output",
        "--no-reload", "--no-test", "--fail", "--etopen", "--url", "https://example.com/r.tgz",
        "--local", "/etc/spanwatch/local.rules",
    ]  # fmt: skip


def test_extract_bundle_rejects_symlink(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        link = tarfile.TarInfo("rules/x.rules")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    with pytest.raises(RulesError, match="link"):
        rules.extract_bundle(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- updates with the real suricata-update and suricata -T -------------------------------


@pytest.mark.suricata
def test_update_with_local_rules_only_installs_them_offline(
    tmp_path: Path, suricata_bin: str
) -> None:
    manager = RuleManager(_cfg(tmp_path, suricata_bin), tmp_path / "rules")
    result = manager.update()
    active = manager.active_rules_path
    assert result.path == active and result.changed and result.previous_rule_count is None
    text = active.read_text()
    assert "sid:9000001;" in text and "SPANWATCH TEST HTTP request to /spanwatch-test" in text
    assert result.rule_count == rules.rule_count(active) >= rules.rule_count(LOCAL_RULES)
    assert result.sources == (f"local:{LOCAL_RULES}",)
    # Nothing was downloaded: the only cached "download" is our empty local placeholder.
    cache = manager.state_dir / "update" / "cache"
    assert [p.name.split("-", 1)[1] for p in cache.iterdir()] == ["no-download.rules"]
    assert not manager.backup_path.exists() and not _work_dirs(manager.rules_dir)


@pytest.mark.suricata
def test_second_update_keeps_previous_ruleset_as_last_good(
    tmp_path: Path, suricata_bin: str
) -> None:
    extra = tmp_path / "extra.rules"
    extra.write_text(RULE.format(sid=9099001))
    manager = RuleManager(_cfg(tmp_path, suricata_bin, local=[LOCAL_RULES, extra]), tmp_path / "r")
    first = manager.update()
    before = manager.active_rules_path.read_bytes()
    assert manager.update().changed is False
    extra.write_text(RULE.format(sid=9099001) + RULE.format(sid=9099002))
    second = manager.update()
    assert second.changed and second.rule_count == first.rule_count + 1
    assert second.previous_rule_count == first.rule_count
    assert manager.backup_path.read_bytes() == before
    manager.rollback()
    assert manager.active_rules_path.read_bytes() == before


@pytest.mark.suricata
def test_broken_rule_fails_suricata_test_and_keeps_active_rules(
    tmp_path: Path, suricata_bin: str
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    active = rules_dir / "suricata.rules"
    active.write_text(RULE.format(sid=9099001))
    before = active.read_bytes()
    broken = tmp_path / "broken.rules"
    broken.write_text(BROKEN)
    manager = RuleManager(_cfg(tmp_path, suricata_bin, local=[LOCAL_RULES, broken]), rules_dir)
    with pytest.raises(RulesError) as info:
        manager.update()
    message = str(info.value)
    assert "suricata -T" in message and "unknown rule keyword 'contnt'" in message
    assert "last good rules are kept" in message
    assert active.read_bytes() == before
    assert not manager.backup_path.exists() and not _work_dirs(rules_dir)


@pytest.mark.suricata
def test_missing_suricata_update_keeps_active_rules(tmp_path: Path, suricata_bin: str) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    active = rules_dir / "suricata.rules"
    active.write_text(RULE.format(sid=9099001))
    cfg = _cfg(tmp_path, suricata_bin, update_binary=str(tmp_path / "no-suricata-update"))
    with pytest.raises(RulesError, match="suricata-update cannot run.*last good rules are kept"):
        RuleManager(cfg, rules_dir).update()
    assert active.read_text() == RULE.format(sid=9099001)


@pytest.mark.suricata
def test_failed_download_keeps_active_rules(tmp_path: Path, suricata_bin: str) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "suricata.rules").write_text(RULE.format(sid=9099001))
    # A file:// URL that does not exist fails like a download, without any network.
    missing = (tmp_path / "gone" / "emerging.rules.tar.gz").as_uri()
    cfg = _cfg(tmp_path, suricata_bin, sources=[{"name": "mirror", "url": missing}])
    with pytest.raises(RulesError, match="suricata-update failed: Failed to fetch"):
        RuleManager(cfg, rules_dir).update()
    assert (rules_dir / "suricata.rules").read_text() == RULE.format(sid=9099001)


@pytest.mark.parametrize(
    ("name", "message"),
    [("none.rules", "none.rules does not exist"), ("notes.txt", "neither a .rules file nor")],
)
def test_bad_local_rules_path_fails(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text(RULE.format(sid=9099001))
    with pytest.raises(RulesError, match=message):
        RuleManager(_cfg(tmp_path, local=[tmp_path / name]), tmp_path / "rules").update()


@pytest.mark.suricata
def test_bundle_with_parent_member_is_rejected(tmp_path: Path, suricata_bin: str) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "suricata.rules").write_text(RULE.format(sid=9099001))
    bundle = _tarball(tmp_path / "upload.tar.gz", {
        "rules/ok.rules": RULE.format(sid=9099002).encode(),
        "../evil.rules": RULE.format(sid=9099003).encode(),
    })  # fmt: skip
    manager = RuleManager(_cfg(tmp_path, suricata_bin), rules_dir)
    with pytest.raises(RulesError, match="'../evil.rules' escapes the bundle"):
        manager.update(offline_files=[bundle])
    assert (rules_dir / "suricata.rules").read_text() == RULE.format(sid=9099001)
    assert not (tmp_path / "evil.rules").exists() and not (rules_dir / "evil.rules").exists()


@pytest.mark.suricata
def test_uploaded_bundle_is_installed_without_downloading(
    tmp_path: Path, suricata_bin: str
) -> None:
    bundle = _tarball(tmp_path / "upload.tar.gz", {
        "rules/custom/site.rules": RULE.format(sid=9099002).encode(), "README": b"hi",
    })  # fmt: skip
    # et/open is enabled but an upload means an offline update: no download attempted.
    cfg = _cfg(tmp_path, suricata_bin, sources=[{"name": "et/open"}])
    manager = RuleManager(cfg, tmp_path / "rules")
    result = manager.update(offline_files=[bundle])
    assert "sid:9099002;" in manager.active_rules_path.read_text()
    assert result.sources == (f"local:{LOCAL_RULES}", "upload:upload.tar.gz")


@pytest.mark.suricata
@pytest.mark.slow
def test_update_from_et_open_directory(tmp_path: Path, suricata_bin: str, testdata: Path) -> None:
    manager = RuleManager(_cfg(tmp_path, suricata_bin), tmp_path / "rules")
    result = manager.update(offline_files=[testdata / "rules" / "et-open"])
    assert result.rule_count > 10000
    assert "sid:9000001;" in manager.active_rules_path.read_text()


@pytest.mark.suricata
def test_reload_loads_updated_rules_into_running_suricata(
    tmp_path: Path, suricata_bin: str
) -> None:
    extra = tmp_path / "extra.rules"
    extra.write_text(RULE.format(sid=9099001))
    cfg = _cfg(tmp_path, suricata_bin, local=[LOCAL_RULES, extra])
    manager = RuleManager(cfg, tmp_path / "rules")
    manager.update()
    with _socket_suricata(cfg, manager.active_rules_path) as control:
        extra.write_text(RULE.format(sid=9099001) + RULE.format(sid=9099002))
        result = manager.update()
        manager.reload(control)
        (stats,) = control.ruleset_stats()
    assert stats["rules_loaded"] == result.rule_count
    assert stats["rules_failed"] == 0


@contextmanager
def _socket_suricata(cfg: AppConfig, rule_file: Path) -> Iterator[SuricataControl]:
    """Suricata in unix-socket mode loading ``rule_file``, and a client connected to it."""
    work = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    log_dir, sock = work / "log", work / "s.sock"
    config = render.write_suricata_config(
        work / "s.yaml", cfg, log_dir=log_dir, rule_files=[rule_file]
    )
    argv = command.unix_socket_argv(cfg.suricata.binary, config, sock, log_dir)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with SuricataControl(sock, timeout=30) as control:
            yield control
            control.shutdown()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


# -- our local.rules ------------------------------------------------------------------------


def _local_rules() -> list[str]:
    return list(rules.iter_rules(LOCAL_RULES.read_text().splitlines()))


def test_local_rules_have_own_sids_classtypes_and_metadata() -> None:
    text = Path("/etc/suricata/classification.config").read_text()
    classtypes = set(re.findall(r"^config classification: ([^,]+),", text, re.M))
    sids = []
    for rule in _local_rules():
        sid = int(re.search(r"\bsid:(\d+);", rule).group(1))  # type: ignore[union-attr]
        sids.append(sid)
        assert 9_000_000 <= sid <= 9_099_999, rule
        assert re.search(r'\(msg:"SPANWATCH [A-Z_]+ ', rule), rule
        assert re.search(r"classtype:([^;]+);", rule).group(1) in classtypes  # type: ignore[union-attr]
        assert re.search(r"metadata:created_at \d{4}_\d\d_\d\d, signature_severity ", rule), rule
    assert len(sids) == len(set(sids)) >= 8
    assert 9000001 in sids


@pytest.mark.suricata
def test_local_rules_pass_suricata_test(tmp_path: Path, suricata_bin: str) -> None:
    cfg = _cfg(tmp_path, suricata_bin)
    config = render.write_suricata_config(
        tmp_path / "s.yaml", cfg, log_dir=tmp_path / "log", rule_files=[LOCAL_RULES]
    )
    render.test_suricata_config(Path(suricata_bin), config)
    log = (tmp_path / "log" / render.SURICATA_LOG).read_text()
    assert f"{len(_local_rules())} rules successfully loaded, 0 rules failed" in log


def _run_local_rules(
    tmp_path: Path, suricata_bin: str, pcap: Path, home: list[str] | None = None
) -> tuple[Counter[int], list[dict[str, Any]]]:
    networks = {"home": home} if home else {}
    cfg = AppConfig.model_validate({"networks": networks, "suricata": {"binary": suricata_bin}})
    log_dir = tmp_path / "log"
    config = render.write_suricata_config(
        tmp_path / "s.yaml", cfg, log_dir=log_dir, rule_files=[LOCAL_RULES]
    )
    argv = command.offline_argv(suricata_bin, config, pcap, log_dir, runmode="single")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (log_dir / render.EVE_FILENAME).read_text()
    events = [json.loads(line) for line in text.splitlines()]
    sids = Counter(e["alert"]["signature_id"] for e in events if e["event_type"] == "alert")
    return sids, events


@pytest.mark.suricata
@pytest.mark.parametrize(
    ("pcap", "home", "expected"),
    [
        ("pcaps/cleartext-creds/zeek_ftp-password-pass-command.pcap", None, {9000012: 1}),
        ("pcaps/brute-force/zeek_bruteforce.pcap", None, {9000012: 1}),
        ("pcaps/cleartext-creds/zeek_basic-auth-with-colon.pcap", None, {9000013: 1}),
        ("pcaps/eicar-download/sv_smb-eicar-file.pcap", None, {9000020: 1, 9000031: 1}),
        ("pcaps/eicar-download/sv_http-evader-000.pcap", None, {9000031: 1}),
        ("suricata-verify/smtp-attachment-md5/input.pcap", None, {9000031: 1}),
        ("pcaps/c2-malware/ndpi_emotet.pcap", None, {9000030: 2}),
        ("pcaps/exploit/markofu_attack-trace.pcap", None, {9000030: 1, 9000062: 1}),
        ("pcaps/smb-lateral/401trg_20171220_smb_psexec_add_user.pcap", None, {9000030: 1}),
        ("suricata-verify/alert-testmyids-midstream/input.pcap", ["82.165.177.0/24"],
         {9000040: 1}),
        ("suricata-verify/alert-testmyids-midstream/input.pcap", None, {}),
        ("pcaps/web-attacks/ndpi_WebattackRCE.pcap", None, {}),
        ("pcaps/cleartext-creds/zeek_simpleauth.pcap", None, {9000014: 3}),
        ("pcaps/exploit/zeek_heartbleed-success.pcap", None, {9000051: 2}),
        ("pcaps/exploit/pcapattack_CVE-2020-0796_SMBGhost_PrivEsc_Loopback_traffic.pcapng",
         None, {9000053: 1}),
        ("pcaps/exploit/pcapattack_Exploit_DoS_cve-2020-1350_dns_sig_maxspl0it.pcapng", None,
         {9000055: 1}),
        ("suricata-verify/tls/tls-certs-alert/input.pcap", None, {}),
        ("suricata-verify/dns-tcp-ts-gap/input.pcap", None, {}),
    ],
)  # fmt: skip
def test_local_rule_fires_on_capture(
    tmp_path: Path, suricata_bin: str, testdata: Path, pcap: str, home: list[str] | None,
    expected: dict[int, int],
) -> None:  # fmt: skip
    sids, _ = _run_local_rules(tmp_path, suricata_bin, testdata / pcap, home)
    assert dict(sids) == expected


ATTACKS = "pcaps/exploit", "pcaps/smb-lateral", "pcaps/credential-access", "pcaps/c2-malware"


@pytest.mark.suricata
@pytest.mark.parametrize(
    ("pcap", "expected"),
    [
        # Remote shells: the banner or prompt comes from the host whose shell it is.
        (f"{ATTACKS[0]}/chrissanders_aurora.pcapng", {(9000060, "192.168.100.206")}),
        (f"{ATTACKS[0]}/markofu_blaster.pcap", {(9000061, "10.234.2.116")}),
        (f"{ATTACKS[0]}/markofu_attack-trace.pcap",
         {(9000062, "98.114.205.102"), (9000030, "98.114.205.102")}),
        # DCE/RPC sessions picked up midstream (no dcerpc record): the client is named.
        (f"{ATTACKS[1]}/pcapattack_LM_dcom_mmc20.application_dcerpc.pcapng",
         {(9000070, "172.16.66.1")}),
        (f"{ATTACKS[2]}/pcapattack_Discovery_impacket_rpcdump.pcapng", {(9000080, "10.0.2.15")}),
        (f"{ATTACKS[2]}/pcapattack_zerologon_mimikatz_ntlm_privacy_scan_and_exploit_"
         "encrypted.pcapng", {(9000091, "172.16.66.37")}),
        ("suricata-verify/dcerpc/zerologon/input.pcap", {(9000091, "172.16.0.10")}),
        # The C2 server's hex answer to the infected host's hex post.
        (f"{ATTACKS[3]}/chrissanders_cryptowall4_c2.pcapng", {(9000101, "184.170.149.44")}),
        (f"{ATTACKS[3]}/chrissanders_ek_to_cryptowall4.pcapng", {(9000101, "184.170.149.44")}),
    ],
)  # fmt: skip
def test_attack_rules_name_the_host(
    tmp_path: Path, suricata_bin: str, testdata: Path, pcap: str, expected: set[tuple[int, str]]
) -> None:
    _, events = _run_local_rules(tmp_path, suricata_bin, testdata / pcap)
    alerts = {(e["alert"]["signature_id"], e["src_ip"]) for e in events
              if e["event_type"] == "alert"}  # fmt: skip
    assert alerts == expected


def _alerts_from(store_path: Path, sids: range) -> set[tuple[int, str]]:
    store = open_store(store_path, readonly=True)
    try:
        alerts = store.events(EventQuery(event_type="alert"))
        return {(a["alert"]["signature_id"], a["src_ip"]) for a in alerts
                if a["alert"]["signature_id"] in sids}  # fmt: skip
    finally:
        store.close()


@pytest.mark.suricata
@pytest.mark.slow
def test_attack_rules_stay_quiet_on_ordinary_traffic() -> None:
    """The shell, DCE/RPC and C2 rules on the suricata-verify protocol captures (one of them
    a real Zerologon attempt) and on the demo captures' ordinary and attack traffic."""
    attack_rules = range(9000060, 9000110)
    assert _alerts_from(verify_run().store_path, attack_rules) == {(9000091, "172.16.0.10")}
    assert _alerts_from(corpus_run().store_path, attack_rules) == set()


@pytest.mark.suricata
def test_eicar_rule_extracts_the_file(tmp_path: Path, suricata_bin: str, testdata: Path) -> None:
    pcap = testdata / "pcaps/eicar-download/sv_http-evader-000.pcap"
    _, events = _run_local_rules(tmp_path, suricata_bin, pcap)
    (info,) = [e["fileinfo"] for e in events if e["event_type"] == "fileinfo"]
    assert info["stored"] is True and info["md5"] and info["sha256"]
    stored = tmp_path / "log" / render.FILES_DIR / info["sha256"][:2] / info["sha256"]
    assert b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in stored.read_bytes()


# -- synthetic captures (documentation addresses, RFC 5737) -----------------------------


class _TcpSession:
    """Packets of one well-formed TCP session between a client and a server."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        self.ends = {"c": client, "s": server}
        self.seq = {"c": 1000, "s": 5000}
        self.clock = 1_700_000_000.0
        self.packets: list[Packet] = []

    def send(self, side: str, flags: str, payload: bytes = b"") -> None:
        other = "s" if side == "c" else "c"
        (src, sport), (dst, dport) = self.ends[side], self.ends[other]
        ack = self.seq[other] if "A" in flags else 0
        tcp = TCP(sport=sport, dport=dport, flags=flags, seq=self.seq[side], ack=ack)
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        pkt.time = self.clock
        self.clock += 0.01
        self.seq[side] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        self.packets.append(pkt)

    def talk(self, *exchanges: tuple[str, bytes]) -> list[Packet]:
        """Handshake, each (side, payload) acknowledged by the peer, then FIN both ways."""
        self.send("c", "S")
        self.send("s", "SA")
        self.send("c", "A")
        for side, payload in exchanges:
            self.send(side, "PA", payload)
            self.send("s" if side == "c" else "c", "A")
        self.send("c", "FA")
        self.send("s", "FA")
        self.send("c", "A")
        return self.packets


def _udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> Packet:
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    return ether / IP(src=src[0], dst=dst[0]) / UDP(sport=src[1], dport=dst[1]) / Raw(payload)


def _pcap(tmp_path: Path, packets: list[Packet]) -> Path:
    path = tmp_path / "synthetic.pcap"
    wrpcap(str(path), packets)
    return path


HOME = ["192.0.2.0/24"]


@pytest.mark.suricata
def test_spanwatch_test_signature(tmp_path: Path, suricata_bin: str) -> None:
    request = b"GET /spanwatch-test HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    packets = _TcpSession(("198.51.100.7", 40001), ("192.0.2.10", 80)).talk(
        ("c", request), ("s", response)
    )
    sids, events = _run_local_rules(tmp_path, suricata_bin, _pcap(tmp_path, packets), HOME)
    assert dict(sids) == {9000001: 1}
    (alert,) = [e for e in events if e["event_type"] == "alert"]
    assert alert["http"]["url"] == "/spanwatch-test"


@pytest.mark.suricata
def test_telnet_session_alerts_once(tmp_path: Path, suricata_bin: str) -> None:
    packets = _TcpSession(("198.51.100.7", 40002), ("192.0.2.23", 23)).talk(
        ("s", b"\xff\xfd\x18\xff\xfd\x20"), ("c", b"\xff\xfb\x18\xff\xfc\x20"),
        ("s", b"login: "), ("c", b"admin\r\n"), ("s", b"Password: "), ("c", b"secret\r\n"),
    )  # fmt: skip
    sids, _ = _run_local_rules(tmp_path, suricata_bin, _pcap(tmp_path, packets), HOME)
    assert dict(sids) == {9000010: 1}


@pytest.mark.suricata
@pytest.mark.parametrize(
    ("port", "shell", "expected"),
    [
        (4444, b"Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights "
               b"reserved.\r\n\r\nPS C:\\Users\\svc> ", {9000064: 1}),
        (4444, b"bash: cannot set terminal process group (812): Inappropriate ioctl for "
               b"device\nbash: no job control in this shell\n", {9000065: 1}),
        (9001, b"/bin/sh: 0: can't access tty; job control turned off\n$ ", {9000065: 1}),
        (4444, b"job control is a feature of interactive shells\n", {}),
    ],
)  # fmt: skip
def test_unix_and_powershell_remote_shells(
    tmp_path: Path, suricata_bin: str, port: int, shell: bytes, expected: dict[int, int]
) -> None:
    # The shell host (192.0.2.40) answers the attacker's connection.
    packets = _TcpSession(("198.51.100.7", 40003), ("192.0.2.40", port)).talk(
        ("c", b"\n"), ("s", shell), ("c", b"id\n"))  # fmt: skip
    sids, events = _run_local_rules(tmp_path, suricata_bin, _pcap(tmp_path, packets), HOME)
    assert dict(sids) == expected
    assert {e["src_ip"] for e in events if e["event_type"] == "alert"} <= {"192.0.2.40"}


@pytest.mark.suricata
@pytest.mark.parametrize(
    ("client", "payload", "expected"),
    [
        ("203.0.113.5", b"\x00\x01running-config\x00octet\x00", {9000011: 1}),
        ("203.0.113.5", b"\x00\x02backdoor.bin\x00octet\x00", {9000011: 1}),
        ("192.0.2.50", b"\x00\x01running-config\x00octet\x00", {}),
        ("203.0.113.5", b"\x00\x03\x00\x01data", {}),
    ],
)
def test_tftp_request_from_outside(
    tmp_path: Path, suricata_bin: str, client: str, payload: bytes, expected: dict[int, int]
) -> None:
    packet = _udp((client, 50000), ("192.0.2.69", 69), payload)
    sids, _ = _run_local_rules(tmp_path, suricata_bin, _pcap(tmp_path, [packet]), HOME)
    assert dict(sids) == expected
