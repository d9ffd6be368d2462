"""What one alert or finding says: its attack stage, who attacked whom, how bad, and when.

Findings name the offender (``src_ip``) and the affected host (``dest_ip``) and carry a
category; Suricata alerts carry a signature and a classtype, from which the stage is read.
Command-and-control and exfiltration turn the roles around: the host that beacons or
leaks is a compromised *victim*, and the server it talks to is the adversary's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from appliance.events import EveDecodeError, parse_timestamp

#: Finding categories (sensors/analyzers) → stage; None means not an attack at all.
FINDING_STAGES: dict[str, str | None] = {
    "reconnaissance": "reconnaissance",
    "credential-access": "credential-access",
    "lateral-movement": "lateral-movement",
    "command-and-control": "command-and-control",
    "exfiltration": "exfiltration",
    "impact": "impact",
    "malware": "initial-access",
    "exploit": "initial-access",
    "initial-access": "initial-access",
    "execution": "initial-access",
    "privilege-escalation": "initial-access",
    "discovery": "reconnaissance",
    "collection": "exfiltration",
    "threat-intel": "command-and-control",
    "policy": "policy",
    "sensor-health": None,
}
#: Signature words → stage, tried in order (the first match wins).
_SIGNATURE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lateral-movement", ("LATERAL", "PSEXEC", "SMBEXEC", "WMIEXEC", "EXECUTABLE FILE",
                          "SVCCTL", "REMOTE SERVICE", "DCOM")),
    ("exfiltration", ("EXFIL",)),
    ("credential-access", ("BRUTE", "PASSWORD SPRAY", "LOGIN FAIL", "FAILED LOGIN", "KERBEROAST",
                           "MIMIKATZ", "DCSYNC", "DRSUAPI", "NTLM RELAY", "CREDENTIAL",
                           "ZEROLOGON", "CVE-2020-1472", "AS-REQ")),
    ("impact", ("COINMINER", "MINING", " DOS ", "DDOS", "RANSOM", "FLOOD", "AMPLIFICATION")),
    ("command-and-control", ("CNC", " C2", "TROJAN", "MALWARE", "BACKDOOR", "BOTNET", "BEACON",
                             "METERPRETER", "COBALT", " RAT ", "DGA", "ET MOBILE_MALWARE")),
    ("reconnaissance", ("SCAN", "NMAP", "RECON", "ENUMERATION", "PROBE")),
    ("initial-access", ("EXPLOIT", "WEB_SERVER", "WEB_SPECIFIC_APPS", "CVE-", "SHELLCODE",
                        "ATTACK_RESPONSE", "CURRENT_EVENTS", "SQL INJECTION", "XSS",
                        "DIRECTORY TRAVERSAL", "EICAR", "PHISHING")),
    ("policy", ("POLICY", "INFO", "HUNTING", "USER_AGENTS", "GAMES", "CHAT", "P2P", "TEST")),
)  # fmt: skip
#: Suricata classtype descriptions (classification.config) → stage.
_CLASSTYPE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reconnaissance", ("NETWORK SCAN", "INFORMATION LEAK", "RECON")),
    ("command-and-control", ("TROJAN", "COMMAND AND CONTROL", "C2", "MALWARE")),
    ("impact", ("DENIAL OF SERVICE", "MINING")),
    ("initial-access", ("PRIVILEGE GAIN", "WEB APPLICATION ATTACK", "EXPLOIT",
                        "EXECUTABLE CODE", "SHELLCODE", "SOCIAL ENGINEERING", "MISC ATTACK",
                        "TARGETED MALICIOUS")),
    ("credential-access", ("CREDENTIAL", "PASSWORD")),
)  # fmt: skip
#: Stages where the source of the traffic is a compromised host calling out.
OUTBOUND_STAGES = frozenset({"command-and-control", "exfiltration"})
#: Stages after which the affected host is taken to be in the attacker's hands, so what
#: it does next belongs to the same story.
COMPROMISE_STAGES = frozenset({"initial-access", "credential-access", "lateral-movement"})


@dataclass(slots=True)
class Observation:
    """One alert or finding, read for correlation."""

    kind: str  # "alert" | "finding"
    key: str
    label: str
    stage: str
    src_ip: str | None
    dest_ip: str | None
    attacker: str | None
    victim: str | None
    severity: int
    ts: int
    start: int
    event_id: int
    sensor: str | None
    sid: int | None
    finding_type: str | None
    #: Records of the same kind, hosts and time window counted into this one.
    count: int = 1
    more_ids: list[int] | None = None
    sources: set[int] | None = None


@lru_cache(maxsize=16384)
def stage_of_alert(signature: str, category: str) -> str:
    """The attack stage a Suricata signature and classtype point to."""
    text = f" {signature.upper()} "
    for stage, words in _SIGNATURE_WORDS:
        if any(w in text for w in words):
            return stage
    cat = category.upper()
    for stage, words in _CLASSTYPE_WORDS:
        if any(w in cat for w in words):
            return stage
    return "policy"


@lru_cache(maxsize=65536)
def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


class HomeNet:
    """Membership in the monitored networks, cached per address."""

    def __init__(self, cidrs: Sequence[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._cache: dict[str, bool] = {}

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        hit = self._cache.get(ip)
        if hit is None:
            addr = _address(ip)
            hit = addr is not None and any(addr in n for n in self.networks)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[ip] = hit
        return hit


def _roles(stage: str, src: str | None, dest: str | None, home: HomeNet,
           outbound: bool = False) -> tuple[str | None, str | None]:  # fmt: skip
    """(attacker, victim) of traffic from ``src`` to ``dest`` at ``stage``; ``outbound``
    when the source is the attacked or hijacked host (a coin miner, an attack's reply)."""
    if stage in OUTBOUND_STAGES or outbound:
        if dest is not None and dest in home and src not in home:
            return src, dest  # the outside server answering (or commanding) the inside host
        return dest, src
    return src, dest


def _severity(value: Any, stage: str) -> int:
    """Suricata's scale (1 high .. 3 low); a policy violation is at most medium, as
    classtype policy-violation makes every such rule "high"."""
    level = min(max(value, 1), 3) if isinstance(value, int) else 3
    return max(level, 2) if stage == "policy" else level


def _ip(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _start(evidence: Any, ts: int) -> int:
    """When the activity behind a finding began (its evidence window), else ``ts``."""
    if isinstance(evidence, dict):
        for name in ("first", "first_timestamp", "first_seen", "start"):
            value = evidence.get(name)
            if isinstance(value, str):
                try:
                    return min(parse_timestamp(value), ts)
                except EveDecodeError:
                    continue
    return ts


def observe(record: dict[str, Any], home: HomeNet) -> Observation | None:
    """The observation of one stored alert or finding; None for anything else."""
    etype = record.get("event_type")
    try:
        ts = parse_timestamp(str(record.get("timestamp")))
    except EveDecodeError:
        return None
    src, dest = _ip(record.get("src_ip")), _ip(record.get("dest_ip"))
    if etype == "alert":
        alert = record.get("alert")
        if not isinstance(alert, dict):
            return None
        sid = alert.get("signature_id")
        sid = sid if isinstance(sid, int) else None
        label = str(alert.get("signature") or f"sid {sid}")
        stage = stage_of_alert(label, str(alert.get("category") or ""))
        severity = _severity(alert.get("severity"), stage)
        source, target = alert.get("source"), alert.get("target")
        if isinstance(source, dict) and isinstance(target, dict):
            attacker, victim = _ip(source.get("ip")), _ip(target.get("ip"))
        else:
            upper = label.upper()
            # A coin miner and a server's reply proving an attack worked (ATTACK_RESPONSE:
            # "id check returned root") come from the victim.
            from_victim = ("ATTACK_RESPONSE" in upper or
                           (stage == "impact" and ("MINER" in upper or "MINING" in upper)))
            attacker, victim = _roles(stage, src, dest, home, from_victim)
        return Observation("alert", str(sid), label, stage, src, dest, attacker, victim,
                           severity, ts, ts, int(record.get("_id") or 0),
                           record.get("_sensor"), sid, None)  # fmt: skip
    if etype == "finding":
        finding = record.get("finding")
        if not isinstance(finding, dict):
            return None
        category = str(finding.get("category") or "")
        found = FINDING_STAGES.get(category, "policy")
        if found is None:
            return None
        stage = found
        kind = str(finding.get("type") or "unknown")
        severity = _severity(finding.get("severity"), stage)
        attacker, victim = _roles(stage, src, dest, home)
        return Observation("finding", kind, kind, stage, src, dest, attacker, victim,
                           severity, ts, _start(finding.get("evidence"), ts),
                           int(record.get("_id") or 0), record.get("_sensor"), None,
                           kind)  # fmt: skip
    return None
