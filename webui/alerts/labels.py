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
    "command-injection": _l("Command injection"),
    "cross-site-scripting": _l("Cross-site scripting"),
    "sql-injection": _l("SQL injection"),
    "path-traversal": _l("Path traversal"),
    "admin-share-access": _l("Administrative share access"),
    "authentication-coercion": _l("Authentication coercion"),
    "directory-replication": _l("Directory replication (DCSync)"),
    "remote-dcom-activation": _l("Remote DCOM activation"),
    "remote-executable-upload": _l("Executable uploaded to a remote host"),
    "remote-scheduled-task": _l("Remote scheduled task"),
    "remote-service-creation": _l("Remote service creation"),
    "remote-wmi": _l("Remote WMI execution"),
    "netlogon-auth-burst": _l("Netlogon authentication burst"),
    "tls-expired-certificate": _l("Expired TLS certificate"),
    "tls-not-yet-valid-certificate": _l("TLS certificate not yet valid"),
    "tls-self-signed-certificate": _l("Self-signed TLS certificate"),
    "tls-hostname-mismatch": _l("TLS certificate for another name"),
    "tls-weak-version": _l("Weak TLS version"),
    "tls-fingerprint-match": _l("Known malicious TLS fingerprint"),
    "post-to-bare-ip": _l("HTTP POST to a bare IP address"),
    "stealth-scan": _l("Stealth scan (NULL, FIN, Xmas, OS fingerprinting)"),
    "disguised-executable-download": _l("Executable disguised as another file type"),
    "random-user-agent": _l("Random-looking HTTP user agent"),
    "quic-without-server-name": _l("QUIC connection naming no server"),
    "new-service-port": _l("Service on a new port"),
    "new-country": _l("First contact with a country"),
    "new-asn": _l("First contact with a network (AS)"),
    "traffic-volume": _l("Traffic far above the host's baseline"),
    "sensor-silent": _l("Sensor sees no traffic"),
    "sensor-drops": _l("Sensor dropping packets"),
    "sensor-suricata-down": _l("Suricata not running"),
    "sensor-clock-skew": _l("Sensor clock skew"),
    "sensor-stale-rules": _l("Outdated detection rules"),
    "sensor-remote-warning": _l("Remote sensor warning"),
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
    "exploit": _l("Exploit attempt"),
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
