"""Benchmark: what spanwatch flags on the public attack corpus, beside ET Open alone.

    python bench/detection.py [--no-et-open]

Runs ``spanwatch analyze --json`` once over every capture in ``pcaps/`` (Suricata in
unix-socket mode: ET Open and our local rules load once) and prints, per capture, its
expected category, the Suricata alerts and spanwatch findings that fired (by category),
and whether each flagged the capture in an expected category. Then the share of captures
flagged right by ET Open alone (alerts of our own sids left out), by all alerts (ET Open
and our local rules) and by spanwatch (alerts + findings); target >= 55 of 61. Last, the
findings and our local rules' attack alerts (policy ones aside) on the suricata-verify
protocol captures, which should be few (some of those captures record real attacks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evefile import REPO, captures, testdata  # noqa: E402

#: Corpus folder -> categories that count as flagging it right.
EXPECTED: dict[str, set[str]] = {
    "portscan": {"reconnaissance"},
    "brute-force": {"credential-access"},
    "c2-malware": {"command-and-control", "malware", "threat-intel"},
    "dns-tunneling": {"command-and-control", "exfiltration"},
    "smb-lateral": {"lateral-movement", "credential-access", "exploit"},
    "credential-access": {"credential-access", "lateral-movement", "reconnaissance", "exploit"},
    "exploit": {"exploit", "malware", "command-and-control", "impact"},
    "dos": {"impact"},
    "eicar-download": {"malware"},
    "arp-spoofing": {"credential-access"},
    "cleartext-creds": {"policy", "credential-access"},
    "tls-anomalies": {"policy"},
    "web-attacks": {"exploit"},
}

#: Suricata classification descriptions (alert.category) -> our categories.
ALERT_CATEGORIES: dict[str, str] = {
    "A Network Trojan was detected": "command-and-control",
    "Malware Command and Control Activity Detected": "command-and-control",
    "Domain Observed Used for C2 Detected": "command-and-control",
    "Exploit Kit Activity Detected": "malware",
    "Crypto Currency Mining Activity Detected": "malware",
    "Possible Social Engineering Attempted": "malware",
    "Detection of a Network Scan": "reconnaissance",
    "Attempted Information Leak": "reconnaissance",
    "Information Leak": "reconnaissance",
    "Large Scale Information Leak": "reconnaissance",
    "Attempted Administrator Privilege Gain": "exploit",
    "Successful Administrator Privilege Gain": "exploit",
    "Attempted User Privilege Gain": "exploit",
    "Successful User Privilege Gain": "exploit",
    "Executable code was detected": "exploit",
    "Web Application Attack": "exploit",
    "Targeted Malicious Activity was Detected": "exploit",
    "Attempted Denial of Service": "impact",
    "Denial of Service": "impact",
    "Detection of a Denial of Service Attack": "impact",
    "Successful Credential Theft Detected": "credential-access",
    "Attempt to login by a default username and password": "credential-access",
    "Potential Corporate Privacy Violation": "policy",
}


def run_analyze(paths: list[Path], rules: list[Path], data_dir: Path) -> dict[str, Any]:
    """``spanwatch analyze --json`` over ``paths``."""
    spanwatch = Path(sys.executable).with_name("spanwatch")
    argv = [str(spanwatch), "analyze", "-q", "--json", "--checksum", "none",
            "--data-dir", str(data_dir)]  # fmt: skip
    for rule in rules:
        argv += ["--rules", str(rule)]
    out = subprocess.run(argv + [str(p) for p in paths], check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    return dict(json.loads(out))


#: The sids of our own local rules (config/rules/local.rules).
LOCAL_SIDS = range(9_000_000, 9_100_000)


def categories(summary: dict[str, Any], *, local: bool = True) -> tuple[Counter[str], Counter[str]]:
    """(alert categories, finding categories) of one capture summary, with counts; without
    ``local``, the alerts of our own rules are left out (ET Open alone)."""
    alerts: Counter[str] = Counter()
    for alert in summary["alerts"]:
        mapped = ALERT_CATEGORIES.get(alert.get("category") or "")
        if mapped and (local or alert.get("sid") not in LOCAL_SIDS):
            alerts[mapped] += alert["count"]
    findings = Counter(f["category"] for f in summary["findings"])
    return alerts, findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-et-open", action="store_true", help="local rules only (fast)")
    args = parser.parse_args()
    rules = [REPO / "config" / "rules"]
    if not args.no_et_open:
        rules.insert(0, testdata() / "rules" / "et-open")
    paths = captures()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        result = run_analyze(paths, rules, Path(tmp) / "attacks")
        benign = sorted((testdata() / "suricata-verify").rglob("*.pcap"))
        benign_result = run_analyze(benign, [REPO / "config" / "rules"], Path(tmp) / "benign")
    et_right = alerts_right = sw_right = 0
    print(f"{'capture':58} {'expected':18} {'ET':3} {'SW':3}  fired")
    for path, summary in zip(paths, result["captures"], strict=True):
        folder = path.parent.name
        expected = EXPECTED.get(folder, set())
        alerts, findings = categories(summary)
        et_ok = bool(expected & set(categories(summary, local=False)[0]))
        sw_ok = bool(expected & (set(alerts) | set(findings)))
        et_right += et_ok
        alerts_right += bool(expected & set(alerts))
        sw_right += sw_ok
        fired = ", ".join([f"alert:{c}×{n}" for c, n in alerts.most_common()] +
                          [f"finding:{c}×{n}" for c, n in findings.most_common()]) or "-"
        print(f"{folder + '/' + path.name[:40]:58} {folder:18} {'yes' if et_ok else 'no':3} "
              f"{'yes' if sw_ok else 'no':3}  {fired}")  # fmt: skip
    n = len(paths)
    print(f"\nFlagged in an expected category: ET Open alone {et_right}/{n}; "
          f"alerts (ET Open + local rules) {alerts_right}/{n}; "
          f"spanwatch (alerts + findings) {sw_right}/{n} (target >= 55/61)")
    noisy = [(Path(s["file"]).parent.name, f["type"]) for s in benign_result["captures"]
             for f in s["findings"]]  # fmt: skip
    noisy += [(Path(s["file"]).parent.name, f"alert {a['sid']}")
              for s in benign_result["captures"] for a in s["alerts"]
              if a.get("sid") in LOCAL_SIDS
              and ALERT_CATEGORIES.get(a.get("category") or "", "policy") != "policy"]  # fmt: skip
    print(f"Findings and local-rule attack alerts on {len(benign)} suricata-verify protocol "
          f"captures: {len(noisy)}")
    for case, kind in sorted(set(noisy)):
        print(f"  {case}: {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
