"""Operating-system clues from passive traffic, and the guess they add up to.

Each clue is (source, value, os, weight): where it came from, what was seen, the OS it
points to, and how much to trust it. The guess is the OS with the largest total weight;
its basis lists the clues behind it, so an analyst can judge it. Weights reflect how
easily a clue misleads:

- SMB ``native_os`` (SMB1 session setup): the OS names itself. 0.9. The build an RDP
  client reports: 0.8.
- DHCP vendor class (option 60, e.g. ``MSFT 5.0``, ``android-dhcp-13``): set by the
  DHCP client of the OS. 0.8. DHCP parameter list (option 55, "DHCP fingerprint"): the
  order of options requested is characteristic of a client stack. 0.6.
- SSH software version (``OpenSSH_8.9p1 Ubuntu-3``): distributions patch the banner. 0.7
  with a distribution, 0.3 for a bare OpenSSH (some Unix).
- HTTP User-Agent of a client: browsers report the OS, but any program can say anything.
  0.5. HTTP ``Server`` header naming a distribution or IIS: 0.6.
- JA3/JA4 TLS client fingerprints listed in ``assets.os_fingerprints``: a TLS stack,
  shared by the OS's programs. 0.6.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WINDOWS_NT = {
    "10.0": "Windows 10/11", "6.3": "Windows 8.1", "6.2": "Windows 8", "6.1": "Windows 7",
    "6.0": "Windows Vista", "5.2": "Windows XP x64/Server 2003", "5.1": "Windows XP",
    "5.0": "Windows 2000",
}  # fmt: skip
_UA_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"iPhone OS|iPad; CPU OS"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Ubuntu"), "Linux (Ubuntu)"),
    (re.compile(r"Fedora"), "Linux (Fedora)"),
    (re.compile(r"Linux|X11"), "Linux"),
    (re.compile(r"FreeBSD"), "FreeBSD"),
)
#: User agents of tools: they say nothing about the OS.
_UA_TOOLS = re.compile(r"^(curl|wget|python|go-http|java|nmap|masscan|sqlmap|nikto|zgrab)",
                       re.IGNORECASE)  # fmt: skip
_SSH_DISTROS: tuple[tuple[str, str], ...] = (
    ("ubuntu", "Linux (Ubuntu)"), ("debian", "Linux (Debian)"), ("raspbian", "Linux (Raspbian)"),
    ("rhel", "Linux (Red Hat)"), ("el7", "Linux (Red Hat/CentOS 7)"), ("el8", "Linux (Red Hat 8)"),
    ("freebsd", "FreeBSD"), ("for_windows", "Windows"), ("windows", "Windows"),
    ("putty", "Windows"), ("cisco", "Cisco IOS"), ("rosssh", "MikroTik RouterOS"),
    ("dropbear", "Linux (embedded)"),
)  # fmt: skip
_DHCP_VENDORS: tuple[tuple[str, str], ...] = (
    ("msft 5.0", "Windows"), ("msft 98", "Windows 98/ME"), ("android-dhcp", "Android"),
    ("dhcpcd", "Linux"), ("udhcp", "Linux (embedded)"), ("cisco", "Cisco"),
    ("aastra", "Aastra phone"), ("polycom", "Polycom phone"), ("hp ", "HP printer/device"),
)  # fmt: skip
#: Well-known DHCP parameter-request orders (option 55), by the option names Suricata logs.
_DHCP_PARAMS: dict[tuple[str, ...], str] = {
    ("subnet_mask", "domain", "router", "dns_server", "domain_search", "static_route",
     "classless_static_route", "private/249"): "Windows",
    ("subnet_mask", "classless_static_route", "router", "dns_server", "domain",
     "domain_search", "private/252"): "macOS/iOS",
    ("subnet_mask", "router", "dns_server", "domain", "broadcast_address", "ntp_server"):
        "Linux",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class OsHint:
    """One clue: where it came from, the value seen, the OS it suggests, its weight."""

    source: str
    value: str
    os: str
    weight: float


def from_user_agent(ua: str) -> OsHint | None:
    """The OS a client's HTTP User-Agent claims."""
    if not ua or _UA_TOOLS.match(ua):
        return None
    value = ua[:200]
    nt = re.search(r"Windows NT (\d+\.\d+)", ua)
    if nt:
        return OsHint("http-user-agent", value, _WINDOWS_NT.get(nt.group(1), "Windows"), 0.5)
    if "Windows" in ua:
        return OsHint("http-user-agent", value, "Windows", 0.4)
    for pattern, os_name in _UA_RULES:
        if pattern.search(ua):
            return OsHint("http-user-agent", value, os_name, 0.5)
    return None


def from_ssh(software: str) -> OsHint | None:
    """The OS an SSH software version string reveals."""
    if not software:
        return None
    lower = software.lower()
    for needle, os_name in _SSH_DISTROS:
        if needle in lower:
            return OsHint("ssh-version", software[:120], os_name, 0.7)
    if lower.startswith("openssh"):
        return OsHint("ssh-version", software[:120], "Unix-like", 0.3)
    return None


_HTTP_SERVERS: tuple[tuple[str, str], ...] = (
    ("microsoft-iis", "Windows Server"), ("(ubuntu)", "Linux (Ubuntu)"),
    ("(debian)", "Linux (Debian)"), ("(centos)", "Linux (CentOS)"),
    ("(red hat)", "Linux (Red Hat)"), ("(win64)", "Windows"), ("(win32)", "Windows"),
)  # fmt: skip


def from_http_server(server: str) -> OsHint | None:
    """The OS an HTTP ``Server`` header names (``Apache/2.4.7 (Ubuntu)``, ``Microsoft-IIS``)."""
    lower = server.lower()
    for needle, os_name in _HTTP_SERVERS:
        if needle in lower:
            return OsHint("http-server", server[:120], os_name, 0.6)
    return None


def from_rdp_build(build: str) -> OsHint | None:
    """The OS an RDP client reports in its connect request (``Windows 7``)."""
    if not build or build.lower() in ("unknown", "<unknown>"):
        return None
    return OsHint("rdp-client-build", build, build, 0.8)


def from_dhcp_vendor(vendor_class: str) -> OsHint | None:
    """The OS a DHCP vendor class identifier (option 60) names."""
    lower = vendor_class.lower()
    for needle, os_name in _DHCP_VENDORS:
        if lower.startswith(needle) or needle in lower:
            return OsHint("dhcp-vendor-class", vendor_class[:120], os_name, 0.8)
    return None


def from_dhcp_params(params: Iterable[str]) -> OsHint | None:
    """The OS a DHCP parameter-request list (option 55 order) matches exactly."""
    key = tuple(str(p) for p in params)
    if not key:
        return None
    os_name = _DHCP_PARAMS.get(key)
    if os_name is None:  # kept (weight 0) so an admin can look the fingerprint up
        return OsHint("dhcp-fingerprint", ",".join(key)[:200], "unknown", 0.0)
    return OsHint("dhcp-fingerprint", ",".join(key)[:200], os_name, 0.6)


def from_smb_native_os(native_os: str) -> OsHint | None:
    """The OS an SMB1 session setup names (``Windows 7 Professional 7601 ...``)."""
    text = native_os.strip()
    if not text or text.lower() in ("unix", "<empty>"):
        return OsHint("smb-native-os", text, "Unix-like (Samba)", 0.5) if text else None
    name = text
    if text.startswith("Windows"):
        # "Windows 7 Professional 7601 Service Pack 1": the product, not the build.
        words = text.split(" Service Pack")[0].split()
        if len(words) >= 3 and words[-1].isdigit() and not 1990 <= int(words[-1]) <= 2030:
            words = words[:-1]
        name = " ".join(words)
    return OsHint("smb-native-os", text[:120], name[:60], 0.9)


def from_tls_fingerprint(kind: str, value: str, known: dict[tuple[str, str], str]) -> (
        OsHint | None):  # fmt: skip
    """A JA3/JA4 client fingerprint the configuration ties to an OS."""
    os_name = known.get((kind, value))
    if os_name is None:
        return None
    return OsHint(f"tls-{kind}", value, os_name, 0.6)


def _family(os_name: str) -> str:
    """Clues agree when they name the same family (``Windows 10/11`` and ``Windows``)."""
    return os_name.split()[0].split("/")[0].lower()


def guess(hints: Iterable[OsHint]) -> tuple[str | None, str]:
    """(OS, basis): the best-supported OS family, named by its most specific clue.

    The basis reads like ``dhcp-vendor-class "MSFT 5.0" -> Windows; http-user-agent ...``.
    """
    families: dict[str, list[OsHint]] = {}
    for hint in hints:
        if hint.weight <= 0:
            continue
        families.setdefault(_family(hint.os), []).append(hint)
    if not families:
        return None, ""

    def support(hs: list[OsHint]) -> tuple[float, float]:
        # Many values from one source (a browser's many user agents) count once.
        by_source: dict[str, float] = {}
        for h in hs:
            by_source[h.source] = max(by_source.get(h.source, 0.0), h.weight)
        return sum(by_source.values()), max(by_source.values())

    best = max(families.values(), key=support)
    # The name: the heaviest clue's, preferring a more specific (longer) name on a tie.
    top = max(best, key=lambda h: (h.weight, len(h.os)))
    ranked = sorted(best, key=lambda h: -h.weight)
    basis = "; ".join(f'{h.source} "{h.value}" -> {h.os}' for h in ranked[:4])
    return top.os, basis
