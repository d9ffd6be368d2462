"""Service.rules: search, switching rules, thresholds and suppressions, sources, preview."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.config import AppConfig
from appliance.errors import RulesError
from appliance.service import Service
from appliance.service import rule_index as ix
from tests.helpers.cli import REPO

SCAN = """\
alert tcp $EXTERNAL_NET any -> $HOME_NET 22 (msg:"ET SCAN Nmap SSH probe"; flow:to_server; \
content:"SSH-1.0-Nmap"; classtype:attempted-recon; sid:2100001; rev:3;)
# alert tcp $EXTERNAL_NET any -> $HOME_NET 445 (msg:"ET SCAN SMB sweep"; flow:to_server; \
classtype:attempted-recon; sid:2100002; rev:1;)
"""
MALWARE = """\
alert http $HOME_NET any -> any any (msg:"ET MALWARE Cobalt Strike beacon"; flow:to_server; \
http.uri; content:"/submit.php"; classtype:trojan-activity; sid:2100010; rev:2; \
metadata:signature_severity Critical;)
alert dns $HOME_NET any -> any any (msg:"ET MALWARE Evil DNS lookup"; dns.query; \
content:"evil.example"; classtype:trojan-activity; sid:2100011; rev:1;)
"""


def make_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "emerging-scan.rules").write_text(SCAN)
    (folder / "emerging-malware.rules").write_text(MALWARE)
    return folder


def make_cfg(tmp_path: Path, suricata_bin: str = "/usr/bin/suricata") -> AppConfig:
    source = make_source(tmp_path / "et")
    # One of our shipped local rules, not all of them: the counts below stay those of the
    # small ET source whatever local rules the project adds.
    shipped = (REPO / "config" / "rules" / "local.rules").read_text().splitlines()
    local = tmp_path / "local.rules"
    local.write_text("".join(line + "\n" for line in shipped if "sid:9000001;" in line))
    return AppConfig.model_validate({
        "data_dir": str(tmp_path / "data"),
        "suricata": {"binary": suricata_bin},
        "rules": {
            "local": [str(local)],
            "sources": [{"name": "et/open", "path": str(source)}],
        },
    })  # fmt: skip


@pytest.fixture
def service(tmp_path: Path):  # type: ignore[no-untyped-def]
    svc = Service(make_cfg(tmp_path))
    yield svc
    svc.close()


def sids(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.sid for r in page.items]


def audit_actions(service: Service) -> list[str]:
    return [e.action for e in service.audit.list(limit=100).items]


def test_search_by_words_sid_classtype_and_content(service: Service) -> None:
    rules = service.rules
    assert sids(rules.search("cobalt")) == [2100010]
    assert sids(rules.search("Cobalt strike BEACON")) == [2100010]
    assert sids(rules.search("2100011")) == [2100011]
    assert sids(rules.search("trojan-activity")) == [2100010, 2100011]
    assert sids(rules.search("submit.php")) == [2100010]
    assert sids(rules.search("nma")) == [2100001]  # prefixes match as you type
    # What a user types is never FTS syntax: quotes and operators cannot break the query.
    for text in ['"', 'cobalt" OR "scan', "NEAR(", "*", "sid:2100010 OR 1=1", "msg:x"]:
        rules.search(text)
    assert rules.search('cobalt" OR "scan').total == 0
    page = rules.search(category="emerging-scan")
    assert sids(page) == [2100001, 2100002] and page.total == 2
    assert rules.search("9000001").items[0].source == "local"


def test_commented_rules_are_known_disabled_and_nothing_is_active_yet(service: Service) -> None:
    row = service.rules.search("2100002").items[0]
    assert not row.enabled and not row.enabled_default and not row.active
    counts = service.rules.counts()
    assert counts["active"] == 0 and counts["pending"] == counts["enabled"] > 3
    assert service.rules.get(2100002)["raw"].startswith("alert tcp")  # type: ignore[index]
    assert service.rules.get(42) is None


def test_disable_and_enable_by_sid_with_reason_is_audited(service: Service) -> None:
    rules = service.rules
    assert rules.set_enabled([2100001], False, actor="alice", reason="noisy scanner") == 1
    assert rules.set_enabled([2100002], True, actor="alice") == 1
    assert sids(rules.search(state="disabled", category="emerging-scan")) == [2100001]
    detail = rules.get(2100001)
    assert detail is not None and detail["reason"] == "noisy scanner"
    assert detail["changed_by"] == "alice" and detail["rule"].override == "sid"
    policy = rules.policy()
    assert policy.disable_sids == (2100001,) and policy.enable_sids == (2100002,)
    assert ["rules.enable", "rules.disable"] == audit_actions(service)[:2]
    rules.set_enabled([2100001], None, actor="alice")  # back to the file's default
    assert rules.policy().disable_sids == ()
    with pytest.raises(RulesError, match="Unknown SID"):
        rules.set_enabled([2100001, 77], False, actor="alice")
    with pytest.raises(RulesError, match="No rule selected"):
        rules.set_enabled([], False, actor="alice")


def test_category_and_classtype_switches_yield_to_a_sid_override(service: Service) -> None:
    rules = service.rules
    assert rules.set_group("category", "emerging-malware", False, actor="bob") == 2
    rules.set_enabled([2100011], True, actor="bob", reason="we need this one")
    enabled = {r.sid: r.enabled for r in rules.search(category="emerging-malware").items}
    assert enabled == {2100010: False, 2100011: True}
    assert rules.policy().disable_sids == (2100010,)
    facet = {f["name"]: f for f in rules.facets("category")}["emerging-malware"]
    assert facet == {"name": "emerging-malware", "total": 2, "enabled": 1, "override": False}
    assert rules.set_group("classtype", "attempted-recon", True, actor="bob") == 2
    assert 2100002 in rules.policy().enable_sids
    with pytest.raises(RulesError, match="No rule has category"):
        rules.set_group("category", "nope", False, actor="bob")
    with pytest.raises(RulesError):
        rules.set_group("file", "emerging-scan", False, actor="bob")


def test_disable_every_rule_a_search_finds(service: Service) -> None:
    rules = service.rules
    assert rules.set_enabled_by_search("ET MALWARE", False, actor="carol", reason="lab") == 2
    assert set(rules.policy().disable_sids) == {2100010, 2100011}
    with pytest.raises(RulesError, match="Search for something first"):
        rules.set_enabled_by_search("", False, actor="carol")
    with pytest.raises(RulesError, match="finds no rule"):
        rules.set_enabled_by_search("zzzzzz", False, actor="carol")


def test_thresholds_and_suppressions_are_validated_and_expire(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = service.rules
    hour = 3600 * 1_000_000
    now = ix.now_us()
    sup = rules.add_threshold("suppress", 2100010, actor="dan", reason="backup server",
                              track="by_src", ip="10.0.0.5/32", expires_at=now + hour)  # fmt: skip
    thr = rules.add_threshold("threshold", 2100001, actor="dan", reason="one per minute",
                              type="limit", track="by_src", count=1, seconds=60)  # fmt: skip
    lines = [e.threshold.line() for e in rules.thresholds()]
    assert lines == [
        "threshold gen_id 1, sig_id 2100001, type limit, track by_src, count 1, seconds 60",
        "suppress gen_id 1, sig_id 2100010, track by_src, ip 10.0.0.5",
    ]
    assert "suppress gen_id 1, sig_id 2100010" in rules.policy().threshold_text()
    # An hour later the suppression has expired: it is no longer applied.
    monkeypatch.setattr(ix, "now_us", lambda: now + hour + 1)
    assert [e.id for e in rules.thresholds()] == [thr]
    assert [e.id for e in rules.thresholds(active_only=False)] == [thr, sup]
    assert "2100010" not in rules.policy().threshold_text()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "suppress", "reason": ""}, "reason"),
        ({"kind": "suppress", "reason": "x", "track": "by_src", "ip": "10.0.0.999"}, "address"),
        ({"kind": "suppress", "reason": "x", "track": "by_src"}, "both a track"),
        ({"kind": "threshold", "reason": "x", "type": "limit", "track": "by_src"}, "count"),
        ({"kind": "threshold", "reason": "x", "type": "often", "track": "by_src", "count": 1,
          "seconds": 1}, "type"),
        ({"kind": "suppress", "reason": "x", "expires_at": 1}, "future"),
    ]  # fmt: skip
    for kwargs, message in bad:
        kind = kwargs.pop("kind")
        with pytest.raises(RulesError, match=message):
            rules.add_threshold(kind, 2100010, actor="dan", **kwargs)
    rules.remove_threshold(thr, actor="dan")
    assert "rules.unthreshold" in audit_actions(service)
    with pytest.raises(RulesError):
        rules.remove_threshold(thr, actor="dan")


def _bundle(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_sources_switch_add_url_and_upload_a_bundle(service: Service) -> None:
    rules = service.rules
    assert [(s.name, s.origin, s.enabled) for s in rules.sources()] == [("et/open", "config", True)]
    rules.set_source_enabled("et/open", False, actor="eve")
    assert rules.search("cobalt").total == 0  # its rules leave the index with it
    rules.set_source_enabled("et/open", True, actor="eve")
    rules.add_url_source("ptresearch", "https://rules.example.org/pt.tar.gz", actor="eve")
    for name, url in [("ptresearch", "https://x.example/a"), ("Bad Name!", "https://x"),
                      ("ok", "ftp://x.example/a"), ("ok", "https://")]:  # fmt: skip
        with pytest.raises(RulesError):
            rules.add_url_source(name, url, actor="eve")
    rule = 'alert tcp any any -> any 3389 (msg:"OFFLINE RDP probe"; sid:9200001; rev:1;)\n'
    view = rules.upload_bundle(
        "offline", "bundle.tar.gz", _bundle({"rules/rdp.rules": rule.encode()}), actor="eve"
    )
    assert view.origin == "upload" and "1 enabled rules" in view.detail
    assert rules.search("rdp probe").items[0].source == "offline"
    assert {s.name for s in rules.policy().sources or ()} == {"et/open", "ptresearch", "offline"}
    assert {"rules.upload", "rules.source_add", "rules.source_disable"} <= set(
        audit_actions(service)
    )
    rules.remove_source("ptresearch", actor="eve")
    with pytest.raises(RulesError, match="Only added sources"):
        rules.remove_source("et/open", actor="eve")


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("evil.tar.gz", _bundle({"../../etc/x.rules": b"alert"}), "escapes"),
        ("empty.tar.gz", _bundle({"README": b"hello"}), "no .rules"),
        ("none.rules", b"# nothing here\n", "no enabled Suricata rule"),
        ("junk.tar.gz", b"not a tar file", "not a readable tar"),
        ("zero.rules", b"", "empty"),
    ],
)
def test_a_bad_bundle_is_rejected_and_nothing_kept(
    service: Service, filename: str, data: bytes, message: str
) -> None:
    with pytest.raises(RulesError, match=message):
        service.rules.upload_bundle("offline", filename, data, actor="eve")
    assert [s.name for s in service.rules.sources()] == ["et/open"]
    uploads = service.cfg.rules_dir / "uploads"
    assert not uploads.exists() or not [p for p in uploads.iterdir() if p.name == "offline"]


def test_request_apply_asks_the_core(service: Service) -> None:
    req = service.rules.request_apply(actor="frank")
    got = service.requests.get(req)
    assert got is not None and got.kind == "rules.apply" and got.status == "pending"
    assert audit_actions(service)[0] == "rules.apply"


def test_search_over_full_et_open_answers_in_milliseconds(tmp_path: Path, testdata: Path) -> None:
    cfg = AppConfig.model_validate({
        "data_dir": str(tmp_path / "data"),
        "rules": {"local": [], "sources": [
            {"name": "et/open", "path": str(testdata / "rules" / "et-open")}]},
    })  # fmt: skip
    svc = Service(cfg)
    try:
        assert svc.rules.reindex() > 15_000
        assert svc.rules.counts()["enabled"] > 14_000
        for text in ["cobalt strike", "nmap", "2019401", "trojan-activity", "log4j"]:
            svc.rules.search(text)  # warm
            start = time.perf_counter()
            page = svc.rules.search(text)
            elapsed = time.perf_counter() - start
            assert page.total > 0, text
            assert elapsed < 0.05, f"{text!r} took {elapsed * 1000:.1f} ms"
    finally:
        svc.close()


def test_an_expired_suppression_waits_for_the_next_apply(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = service.rules
    assert rules.counts()["thresholds_pending"] == 0  # nothing to install on a fresh box
    now = ix.now_us()
    rules.add_threshold("suppress", 2100010, actor="dan", reason="maintenance window",
                        expires_at=now + 1_000_000)  # fmt: skip
    assert rules.counts()["thresholds_pending"] == 1 and rules.preview().thresholds_changed
    path = service.cfg.rules_dir / "threshold.config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rules.policy().threshold_text())  # as the core's apply installs it
    assert rules.counts()["thresholds_pending"] == 0
    monkeypatch.setattr(ix, "now_us", lambda: now + 2_000_000)
    assert rules.counts()["thresholds_pending"] == 1  # expired: the page asks to apply
