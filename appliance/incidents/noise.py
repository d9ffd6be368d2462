"""What opens no incident: Suricata's engine noise, and what analysts suppressed.

On a mirror port, checksum offload, asymmetric routing and capture drops make Suricata's
own decoder, stream and app-layer event rules fire by the thousand ("SURICATA IPv4
invalid checksum", "STREAM ESTABLISHED packet out of window"). They say something about
the capture, not about an attacker, so they are recognised by their signature class
(gid 1, sids 2200000-2299999) rather than by any one capture, and count only as noise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from appliance.config_incidents import IncidentsConfig
from appliance.incidents.classifier import Observation
from appliance.incidents.model import Suppression


class EngineNoise:
    """Recognises alerts of Suricata's own engine-event rules."""

    def __init__(self, cfg: IncidentsConfig) -> None:
        self.enabled = cfg.engine_noise
        self.ranges = [(lo, hi) for lo, hi in cfg.noise_sid_ranges]
        self.keep = frozenset(cfg.keep_sids)
        self._cache: dict[int, bool] = {}

    def is_noise_sid(self, sid: int | None) -> bool:
        """Whether an alert of signature ``sid`` is engine noise."""
        if not self.enabled or sid is None:
            return False
        hit = self._cache.get(sid)
        if hit is None:
            hit = sid not in self.keep and any(lo <= sid <= hi for lo, hi in self.ranges)
            self._cache[sid] = hit
        return hit


@lru_cache(maxsize=4096)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


@lru_cache(maxsize=65536)
def _in(ip: str | None, cidr: str) -> bool:
    if ip is None:
        return False
    try:
        return ipaddress.ip_address(ip) in _network(cidr)
    except ValueError:
        return False


def parse_cidr(value: str | None) -> str | None:
    """A CIDR (or one address) in canonical form; ValueError if it is neither."""
    if value is None or not value.strip():
        return None
    return str(ipaddress.ip_network(value.strip(), strict=False))


def matches(sup: Suppression, obs: Observation) -> bool:
    """Whether ``obs`` is of the kind ``sup`` suppresses (ignoring its expiry)."""
    if sup.sid is not None and obs.sid != sup.sid:
        return False
    if sup.finding_type is not None and obs.finding_type != sup.finding_type:
        return False
    if sup.src is not None and not _in(obs.src_ip, sup.src):
        return False
    return sup.dest is None or _in(obs.dest_ip, sup.dest)


class SuppressionSet:
    """The active suppressions, indexed by what they name, for fast matching."""

    def __init__(self, suppressions: Iterable[Suppression], now_us: int) -> None:
        self.by_sid: dict[int, list[Suppression]] = {}
        self.by_type: dict[str, list[Suppression]] = {}
        self.any: list[Suppression] = []
        for sup in suppressions:
            if not sup.is_active(now_us):
                continue
            if sup.sid is not None:
                self.by_sid.setdefault(sup.sid, []).append(sup)
            elif sup.finding_type is not None:
                self.by_type.setdefault(sup.finding_type, []).append(sup)
            else:
                self.any.append(sup)

    def __bool__(self) -> bool:
        return bool(self.by_sid or self.by_type or self.any)

    def match(self, obs: Observation) -> Suppression | None:
        """The first active suppression that covers ``obs``."""
        candidates: list[Suppression] = []
        if obs.sid is not None:
            candidates = self.by_sid.get(obs.sid, [])
        elif obs.finding_type is not None:
            candidates = self.by_type.get(obs.finding_type, [])
        for sup in (*candidates, *self.any):
            if matches(sup, obs):
                return sup
        return None
