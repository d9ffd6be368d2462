"""Reading rules as text: enabled and commented-out rules, quoted options, odd lines."""

from __future__ import annotations

from pathlib import Path

from appliance.suricata.rule_text import category_of, parse_rule, read_rules, rule_lines
from tests.helpers.cli import REPO


def test_enabled_rule_fields() -> None:
    rule = parse_rule(
        'alert http $HOME_NET any -> any any (msg:"ET MALWARE \\"Evil\\"; beacon"; '
        'content:"GET"; http.uri; content:"/a\\;b"; classtype:trojan-activity; '
        "sid:2000001; rev:7; metadata:created_at 2020_01_01, signature_severity Major;)",
        category="emerging-malware",
    )
    assert rule is not None
    assert (rule.sid, rule.gid, rule.rev, rule.action, rule.proto) == (
        2000001, 1, 7, "alert", "http",
    )  # fmt: skip
    assert rule.msg == 'ET MALWARE "Evil"; beacon'
    assert rule.classtype == "trojan-activity"
    assert rule.contents == ("GET /a;b",)
    assert rule.metadata.startswith("created_at 2020_01_01")
    assert rule.enabled and rule.category == "emerging-malware"


def test_commented_rule_is_known_but_disabled() -> None:
    rule = parse_rule('#alert tcp any any -> any 23 (msg:"x"; sid:5; rev:2;)')
    assert rule is not None and not rule.enabled and rule.sid == 5
    assert parse_rule("# just a comment: alert me when done") is None
    assert parse_rule('# alert tcp any any -> any 23 (msg:"no sid";)') is None
    assert parse_rule("") is None
    assert parse_rule('alert tcp any any -> any 23 (msg:"x"; sid:abc;)') is None
    assert parse_rule('alert tcp any any -> any 23 (msg:"unterminated"; sid:1;') is None


def test_continuation_lines_are_joined() -> None:
    lines = ['alert tcp any any -> any any (msg:"a"; \\\n', "sid:9; rev:1;)\n", "# end\n"]
    joined = list(rule_lines(lines))
    assert joined[0] == 'alert tcp any any -> any any (msg:"a"; sid:9; rev:1;)'


def test_local_rules_all_read(tmp_path: Path) -> None:
    path = REPO / "config" / "rules" / "local.rules"
    rules = read_rules(path, source="local")
    text = path.read_text()
    assert len(rules) == text.count("sid:") and all(r.source == "local" for r in rules)
    assert {r.category for r in rules} == {"local"}
    assert category_of(Path("x/emerging-scan.rules")) == "emerging-scan"
