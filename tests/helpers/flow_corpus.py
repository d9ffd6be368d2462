"""One ``spanwatch analyze`` run over every capture the flow analyzers are tested on.

The scan, flood and exfiltration tests share it: the ``portscan`` and ``dos`` folders of
the attack corpus, the project's demo capture, and ordinary traffic (the suricata-verify
captures with the most flows, plus attack captures of other kinds whose many sessions are
no scan or flood). One Suricata unix-socket run per test session keeps the modules fast.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appliance.store import EventQuery, open_store
from sensors.demo import write_demo_capture
from tests.helpers.cli import REPO, run_spanwatch, testdata_dir

DEMO_SEED = 1
#: suricata-verify cases with the most flows (every protocol family, tunnels, IPv6).
VERIFY_CASES = (
    "dcerpc/zerologon", "vxlan-decoder-03", "decode-teredo-01", "ssh-hassh", "ssh-banner-only",
    "tls/tls-cert-issuer", "ipv6-evasion/ipv6-kill-router-gateway", "dns-eve-type-filtering",
    "modbus", "krb5-krb5_msg_type", "bug-5633-gre-02", "ftp/ftp-download-passive",
    "ftp/ftp-download-active", "snmp-v3-encrypted", "ipv6-evasion/ipv6-malformed-fragments-25",
    "http-post-file",
)  # fmt: skip
#: Attack captures with many sessions of one client: a web scanner, password guessing.
BUSY_CLIENTS = (
    "web-attacks/ndpi_WebattackRCE.pcap", "brute-force/zeek_sshguess.pcap",
    "brute-force/zeek_bruteforce.pcap", "c2-malware/ndpi_mining.pcapng",
)  # fmt: skip


@dataclass(frozen=True)
class FlowCorpusRun:
    """Findings of the shared run: per capture file, and the stored records."""

    by_capture: dict[str, list[dict[str, Any]]]  # capture path -> [{type, src_ip, ...}]
    records: list[dict[str, Any]]  # full finding records from the store

    def summary(self, capture: Path, types: set[str]) -> set[tuple[str, str | None, str | None]]:
        """{(type, src_ip, dest_ip)} of the given types found in one capture."""
        return {(f["type"], f["src_ip"], f["dest_ip"])
                for f in self.by_capture[str(capture)] if f["type"] in types}  # fmt: skip

    def full(self, finding_type: str, src_ip: str | None = None) -> list[dict[str, Any]]:
        """The stored finding records of one type (and offender)."""
        return [r for r in self.records if r["finding"]["type"] == finding_type
                and (src_ip is None or r["src_ip"] == src_ip)]  # fmt: skip


def attack_captures(category: str) -> list[Path]:
    """The captures of one category of the attack corpus."""
    return sorted((testdata_dir() / "pcaps" / category).glob("*.pcap*"))


def ordinary_captures() -> list[Path]:
    """Captures of ordinary traffic, and attacks that are no scan, flood or upload."""
    verify = testdata_dir() / "suricata-verify"
    cases = [sorted((verify / case).glob("*.pcap"))[0] for case in VERIFY_CASES]
    return cases + [testdata_dir() / "pcaps" / name for name in BUSY_CLIENTS]


@functools.cache
def demo_capture() -> Path:
    """The project's demo capture (written once per session)."""
    path = Path(tempfile.mkdtemp(prefix="spanwatch-flow-corpus-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    write_demo_capture(path / "demo.pcap", seed=DEMO_SEED)
    return path / "demo.pcap"


@functools.cache
def flow_corpus_run() -> FlowCorpusRun:
    """Every capture above, analysed once with the default thresholds."""
    captures = [*attack_captures("portscan"), *attack_captures("dos"), demo_capture(),
                *ordinary_captures()]  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="spanwatch-flow-run-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    config = {"sensor": {"name": "flow-corpus"}, "data_dir": str(tmp / "data"),
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")],
                        "sources": []}}  # fmt: skip
    path = tmp / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = run_spanwatch("analyze", "--config", path, "-q", "--json", "--checksum", "none",
                         *captures)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["captures"]
    by_capture = {c["file"]: c["findings"] for c in report}
    assert set(by_capture) == {str(c) for c in captures}
    store = open_store(tmp / "data" / "spanwatch.db", readonly=True)
    try:
        records = list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()
    return FlowCorpusRun(by_capture, records)
