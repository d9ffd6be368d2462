"""Domain names: registered domain without a public-suffix download, and whether a name
looks machine-made (encoded data, DGA output) rather than chosen by people."""

from __future__ import annotations

from collections.abc import Sequence

#: Public suffixes of two labels under which registered domains have three labels: the
#: common second-level registries (a small built-in list, no network access).
MULTI_LABEL_SUFFIXES = frozenset(
    f"{second}.{cc}"
    for cc, seconds in {
        "vn": "com net org gov edu ac info biz name pro health int",
        "uk": "co org ac gov ltd plc net me", "au": "com net org edu gov asn id",
        "jp": "co ne or ac go", "kr": "co or ne go ac", "cn": "com net org gov edu ac",
        "br": "com net org gov edu", "in": "co net org gov ac", "id": "co or go ac web",
        "th": "co or go ac in", "nz": "co org net govt ac", "za": "co org gov ac",
        "tw": "com net org gov edu", "hk": "com net org gov edu", "sg": "com net org gov edu",
        "my": "com net org gov edu", "ph": "com net org gov edu", "mx": "com org gob edu",
        "ar": "com org gob edu", "tr": "com net org gov edu", "ru": "com net org",
    }.items()
    for second in seconds.split()
)  # fmt: skip
_HEX = frozenset("0123456789abcdef")
_HOSTNAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_VOWELS = frozenset("aeiouy")


def split_name(name: str) -> tuple[str, list[str]] | None:
    """(registered domain, labels left of it) of a query name; None if never a tunnel.

    The domain is "" when the name has no plausible top-level domain (dnscat2 in direct
    mode sends such names straight to its server).
    """
    name = name.lower().rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or labels[-1] in ("arpa", "local"):
        return None
    if "_" in name and any(label.startswith("_") for label in labels):
        return None  # RFC 8552 underscored service names: SRV, DKIM, DMARC
    tld = labels[-1]
    if not (tld.isalpha() and tld.isascii() and 2 <= len(tld) <= 24 or tld.startswith("xn--")):
        return "", labels
    size = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in MULTI_LABEL_SUFFIXES else 2
    return ".".join(labels[-size:]), labels[:-size]


def looks_encoded(labels: Sequence[str], min_chars: int) -> bool:
    """Whether labels hold encoded data rather than words: long, and either bytes outside
    the hostname alphabet (binary, base64) or letters and digits interleaved as random
    hex/base32/base36 text does (a word-like name has few letter/digit switches)."""
    text = "".join(labels)
    if len(text) < min_chars:
        return False
    if not _HOSTNAME.issuperset(text):
        return True
    switches = sum(
        1 for a, b in zip(text, text[1:]) if a != "-" != b and a.isdigit() != b.isdigit()
    )
    return switches >= 0.2 * len(text)


def is_hex_label(label: str) -> bool:
    """A registered label that is a hex string with letters and digits (hash-based DGA)."""
    if len(label) < 8 or not _HEX.issuperset(label):
        return False
    digits = sum(c.isdigit() for c in label)
    return 2 <= digits <= len(label) - 2


def looks_random(label: str) -> bool:
    """A registered label that does not read like a word or brand: hex, digits mixed into
    letters, a run of six consonants (English compounds reach five: "backstreet",
    "strengths"), two of the rare letters j, q (not before u), x, z, or (long) hardly any
    vowels. About half of random 8-letter labels and most longer ones qualify."""
    if is_hex_label(label):
        return True
    if len(label) < 8:
        return False
    switches = sum(1 for a, b in zip(label, label[1:]) if a.isdigit() != b.isdigit())
    letters = [c for c in label if c.isalpha()]
    run = longest = 0
    for c in letters:
        run = 0 if c in _VOWELS else run + 1
        longest = max(longest, run)
    vowels = sum(c in _VOWELS for c in letters)
    rare = sum(c in "jxz" or (c == "q" and label[i + 1 : i + 2] != "u")
               for i, c in enumerate(label))  # fmt: skip
    return (switches >= 2 or longest >= 6 or rare >= 2
            or (len(letters) >= 10 and vowels < 0.2 * len(letters)))  # fmt: skip
