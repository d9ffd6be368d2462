"""Names users read for the codes alerts carry: finding types, categories, statuses.

Codes come from the analyzers (``port-scan``) and the index (``false-positive``); a code
not listed here is shown as it is (escaped, like any data).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

FINDING_TYPES: dict[str, Any] = {
    "port-scan": _l("Port scan"),
    "host-sweep": _l("Host sweep"),
    "brute-force": _l("Brute force login"),
    "password-spraying": _l("Password spraying"),
    "beaconing": _l("Beaconing to a C2 server"),
    "dns-tunnel": _l("DNS tunnel"),
    "dns-exfiltration": _l("Data exfiltration over DNS"),
    "dga": _l("Algorithm-generated domains"),
    "icmp-tunnel": _l("ICMP tunnel"),
    "encrypted-dns": _l("Encrypted DNS (DoH/DoT)"),
    "cleartext-credentials": _l("Password sent in cleartext"),
    "malware-file-hash": _l("Known malware file"),
    "malware-file-yara": _l("File matching a YARA rule"),
    "ioc-match": _l("Threat intelligence match"),
    "syn-flood": _l("SYN flood"),
    "udp-flood": _l("UDP flood"),
    "data-exfiltration": _l("Large upload to the internet"),
    "capture-loss": _l("Packets lost by the sensor"),
    "arp-spoofing": _l("ARP spoofing"),
    "rogue-dhcp-server": _l("Rogue DHCP server"),
    "name-poisoning": _l("Name poisoning (LLMNR/NBT-NS/mDNS)"),
}
CATEGORIES: dict[str, Any] = {
    "reconnaissance": _l("Reconnaissance"),
    "credential-access": _l("Credential access"),
    "lateral-movement": _l("Lateral movement"),
    "command-and-control": _l("Command and control"),
    "exfiltration": _l("Exfiltration"),
    "impact": _l("Impact"),
    "malware": _l("Malware"),
    "policy": _l("Policy violation"),
    "threat-intel": _l("Threat intelligence"),
    "sensor-health": _l("Sensor health"),
}
EVENT_TYPES: dict[str, Any] = {
    "alert": _l("Signature alert"),
    "finding": _l("Analyzer finding"),
    "anomaly": _l("Protocol anomaly"),
}
STATUSES: dict[str, Any] = {
    "new": _l("Inbox"),
    "archived": _l("Archived"),
    "escalated": _l("Escalated"),
    "false-positive": _l("False positive"),
    "suppressed": _l("Suppressed"),
    "all": _l("All"),
}
SEVERITIES: dict[int, Any] = {1: _l("High"), 2: _l("Medium"), 3: _l("Low")}


def alert_title(etype: str, label: str) -> Any:
    """What a list shows for an alert (its signature) or a finding (its type's name)."""
    if etype == "finding":
        return FINDING_TYPES.get(label, label)
    return label


def group_title(gkey: str, label: str) -> Any:
    kind, _, value = gkey.partition(":")
    return FINDING_TYPES.get(value, label) if kind == "finding" else label


def category_name(category: str | None) -> Any:
    if not category:
        return ""
    return CATEGORIES.get(category, category)


def template_globals() -> dict[str, Any]:
    """Helpers the alert and dashboard templates use."""
    return {"alert_title": alert_title, "group_title": group_title,
            "category_name": category_name, "event_type_names": EVENT_TYPES,
            "status_names": STATUSES, "severity_names": SEVERITIES}  # fmt: skip
