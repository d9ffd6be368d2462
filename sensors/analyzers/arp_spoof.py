"""ARP spoofing: a host that claims IPv4 addresses that are not its own.

Every ARP packet with a sender address is a claim "IP is at MAC" that its receivers learn.
An ordinary host claims one address and asks for others; a spoofer claims the addresses
of its victims (the gateway first) so their traffic reaches it. What gives it away:

* contradiction: a MAC claims an address and also asks who has it (with another sender
  address). A host never asks for its own address (RFC 5227 probes use 0.0.0.0), so one
  of the two claims is a lie; tools resolve the real owner to forward what they steal.
* flip-flop: an address alternates between two MACs (A, B, A) within the window: both
  are alive and claim it, which failover (one change) and DHCP reuse (one change, hours
  apart) do not do. The MAC claiming more addresses is the spoofer (it has its own too).
* gateway takeover: another MAC claims a gateway (configured, or named in a DHCP offer).
* gratuitous flood: more gratuitous ARPs from one MAC than any standard behaviour sends.
* many addresses: one MAC claims more addresses than ``max_ips_per_mac``.

A single change of MAC for an address is not reported: it is what a failover or a
replaced NIC looks like. Unsolicited replies (no request seen) are evidence, not a trigger.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.config import ArpSpoofConfig
from appliance.events import make_finding
from sensors.analyzers.packet import (
    BROADCAST_MACS,
    ArpClaim,
    arp_claim,
    capped,
    dhcp_options,
    eve_timestamp,
)

if TYPE_CHECKING:
    from scapy.packet import Packet

logger = logging.getLogger(__name__)

#: An ARP reply answers a request at most this old.
_REPLY_WAIT_S = 5.0
#: State bounds: hosts tracked, addresses remembered per host, pending requests.
_MAX_HOSTS = 65536
_MAX_CLAIMS = 1024
_MAX_REQUESTS = 65536
_MAX_GATEWAYS = 256
#: Signals, strongest first, with the confidence each gives on its own.
_SIGNALS = {"contradiction": 0.9, "gateway-takeover": 0.85, "flip-flop": 0.8,
            "gratuitous-flood": 0.7, "many-addresses": 0.6}  # fmt: skip
_SEVERE = {"contradiction", "gateway-takeover", "flip-flop"}


@dataclass
class _Host:
    """What one MAC did within the window."""

    first: float
    last: float
    claimed: dict[str, float] = field(default_factory=dict)  # ip -> last claim
    asked: dict[str, tuple[float, str]] = field(default_factory=dict)  # ip -> (time, as ip)
    disputed: dict[str, tuple[str, str]] = field(default_factory=dict)  # ip -> (signal, mac)
    garps: deque[float] = field(default_factory=deque)
    poisoned: set[str] = field(default_factory=set)
    unsolicited: int = 0
    packets: int = 0


@dataclass
class _Binding:
    """Who claims one address: the first MAC in the window and the latest one."""

    owner: str
    mac: str
    last: float
    changes: int = 0


class ArpSpoofAnalyzer:
    """Finds MACs whose ARP claims contradict each other, flip-flop, flood or multiply."""

    name = "arp_spoof"
    #: ARP read from its bytes (:class:`ArpClaim`) besides scapy packets.
    reads_arp_claims = True

    def __init__(self, cfg: ArpSpoofConfig) -> None:
        self.cfg = cfg
        self._allowed = frozenset(cfg.allowed_macs)
        self._gateways = set(cfg.gateways)
        self._hosts: dict[str, _Host] = {}
        self._bindings: dict[str, _Binding] = {}
        self._requests: dict[tuple[str, str], float] = {}  # (asker ip, asked ip) -> time
        self._reported: dict[str, float] = {}
        self._next_sweep = 0.0

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Findings are raised as their evidence arrives; nothing is held back."""
        return []

    def process(self, packets: Sequence[Packet | ArpClaim]) -> list[bytes]:
        """One finding per offending MAC and window."""
        out: list[bytes] = []
        for packet in packets:
            claim = packet if isinstance(packet, ArpClaim) else self._dissected(packet)
            if claim is None:
                continue
            ts = claim.time
            if ts >= self._next_sweep:
                self._sweep(ts)
            offenders = self._handle(claim.op, claim.mac, claim.spa, claim.tpa, ts)
            for mac in offenders:
                finding = self._check(mac, ts)
                if finding is not None:
                    out.append(finding)
        return out

    def _dissected(self, packet: Packet) -> ArpClaim | None:
        """The claim of a packet scapy dissected (a DHCP packet may name gateways)."""
        from scapy.layers.l2 import ARP

        arp = packet.getlayer(ARP)
        if arp is None:
            self._learn_gateways(packet)
            return None
        # From the bytes scapy dissected: its fields resolve their type on every access.
        return arp_claim(getattr(arp, "original", None) or bytes(arp), float(packet.time))

    # -- evidence --------------------------------------------------------------------------

    def _handle(self, op: int, mac: str, spa: str, tpa: str, ts: float) -> list[str]:
        """Record one ARP packet; the MACs whose evidence changed."""
        if mac in BROADCAST_MACS or int(mac[:2], 16) & 1 or spa == "0.0.0.0":
            return []  # not a host, or an RFC 5227 probe (claims nothing)
        host = self._host(mac, ts)
        host.packets += 1
        gratuitous = spa == tpa
        if gratuitous:
            host.garps.append(ts)
            while host.garps and host.garps[0] < ts - self.cfg.garp_flood_seconds:
                host.garps.popleft()
        elif op == 1:
            if len(host.asked) < _MAX_CLAIMS:
                host.asked[tpa] = (ts, spa)
            if len(self._requests) >= _MAX_REQUESTS:
                self._requests.clear()
            self._requests[(spa, tpa)] = ts
        elif op == 2:
            asked = self._requests.get((tpa, spa))
            if asked is None or ts - asked > _REPLY_WAIT_S:
                host.unsolicited += 1
                if len(host.poisoned) < _MAX_CLAIMS:
                    host.poisoned.add(tpa)
        if spa in host.claimed or len(host.claimed) < _MAX_CLAIMS:
            host.claimed[spa] = ts
        return [mac, *self._bind(spa, mac, ts)]

    def _host(self, mac: str, ts: float) -> _Host:
        host = self._hosts.get(mac)
        if host is None:
            if len(self._hosts) >= _MAX_HOSTS:
                self._sweep(ts, evict_half=True)
            host = self._hosts[mac] = _Host(first=ts, last=ts)
        host.last = max(host.last, ts)
        return host

    def _bind(self, ip: str, mac: str, ts: float) -> list[str]:
        """Track who claims ``ip``; the offender of a dispute this claim reveals, if any."""
        binding = self._bindings.get(ip)
        if binding is None or ts - binding.last > self.cfg.window_seconds:
            self._bindings[ip] = _Binding(owner=mac, mac=mac, last=ts)
            return []
        binding.last = ts
        if mac == binding.mac:
            return []
        previous, binding.mac = binding.mac, mac
        binding.changes += 1
        if ip in self._gateways and mac != binding.owner:
            return self._dispute(ip, mac, binding.owner, "gateway-takeover")
        if binding.changes >= 2:
            other = mac if mac != binding.owner else previous
            offender, legit = self._pick(binding.owner, other)
            return self._dispute(ip, offender, legit, "flip-flop")
        return []

    def _pick(self, owner: str, other: str) -> tuple[str, str]:
        """(spoofer, victim) of a flip-flop: who claims more addresses; else the newcomer."""
        n_owner = len(self._hosts[owner].claimed) if owner in self._hosts else 0
        n_other = len(self._hosts[other].claimed) if other in self._hosts else 0
        return (owner, other) if n_owner > n_other else (other, owner)

    def _dispute(self, ip: str, offender: str, legit: str, signal: str) -> list[str]:
        host = self._hosts.get(offender)
        if host is None:
            return []
        host.disputed.setdefault(ip, (signal, legit))
        return [offender]

    def _learn_gateways(self, packet: Packet) -> None:
        """Routers handed out in DHCP offers and acknowledgements are gateways."""
        options = dhcp_options(packet)
        if options.get("message-type", (0,))[0] in (2, 5) and len(self._gateways) < _MAX_GATEWAYS:
            self._gateways.update(str(ip) for ip in options.get("router", ()))

    # -- findings --------------------------------------------------------------------------

    def _signals(self, host: _Host) -> dict[str, Any]:
        contradictions = {ip: host.asked[ip][1] for ip in host.claimed if ip in host.asked}
        signals: dict[str, Any] = {}
        if contradictions:
            signals["contradiction"] = contradictions
        for ip, (signal, legit) in host.disputed.items():
            signals.setdefault(signal, {})[ip] = legit
        if len(host.garps) >= self.cfg.garp_flood_count:
            signals["gratuitous-flood"] = len(host.garps)
        if len(host.claimed) > self.cfg.max_ips_per_mac:
            signals["many-addresses"] = len(host.claimed)
        return signals

    def _check(self, mac: str, ts: float) -> bytes | None:
        host = self._hosts.get(mac)
        if host is None or mac in self._allowed:
            return None
        last = self._reported.get(mac)
        if last is not None and ts - last < self.cfg.window_seconds:
            return None
        signals = self._signals(host)
        if not signals:
            return None
        self._reported[mac] = ts
        return self._finding(mac, host, signals, ts)

    def _finding(self, mac: str, host: _Host, signals: dict[str, Any], ts: float) -> bytes:
        impersonated = {**signals.get("contradiction", {})}
        legit: dict[str, str] = {}
        for name in ("gateway-takeover", "flip-flop"):
            for ip, other in signals.get(name, {}).items():
                impersonated.setdefault(ip, "")
                legit[ip] = other
        own = [a for a in signals.get("contradiction", {}).values() if a not in impersonated]
        own += sorted(set(host.claimed) - set(impersonated))
        target = min(impersonated, key=lambda ip: (ip not in self._gateways, ip), default=None)
        names = [s for s in _SIGNALS if s in signals]
        confidence = _SIGNALS[names[0]] + 0.05 * (len(names) - 1 + (host.unsolicited > 0))
        return make_finding(
            type="arp-spoofing",
            category="credential-access",
            severity=1 if _SEVERE & set(names) else 2,
            confidence=min(confidence, 0.99),
            timestamp=eve_timestamp(ts),
            src_ip=own[0] if own else None,
            dest_ip=target,
            explanation=_explain(mac, sorted(impersonated), names, sorted(host.poisoned)),
            evidence={
                "signals": names,
                "mac": mac,
                "claimed_ips": capped(host.claimed),
                "impersonated_ips": capped(impersonated),
                "legitimate_macs": dict(capped(legit.items())),
                "asked_as": dict(capped(signals.get("contradiction", {}).items())),
                "poisoned_hosts": capped(host.poisoned),
                "unsolicited_replies": host.unsolicited,
                "gratuitous_arps": len(host.garps),
                "arp_packets": host.packets,
                "first_seen": eve_timestamp(host.first),
                "last_seen": eve_timestamp(host.last),
                "thresholds": {
                    "window_seconds": self.cfg.window_seconds,
                    "max_ips_per_mac": self.cfg.max_ips_per_mac,
                    "garp_flood_count": self.cfg.garp_flood_count,
                    "garp_flood_seconds": self.cfg.garp_flood_seconds,
                },
            },  # fmt: skip
            src_mac=mac,
            dest_mac=legit.get(target) if target else None,
            proto="ARP",
        )

    # -- bounds ------------------------------------------------------------------------------

    def _sweep(self, now: float, *, evict_half: bool = False) -> None:
        """Forget what fell out of the window (or, when full, the older half of the hosts)."""
        horizon = now - self.cfg.window_seconds
        self._next_sweep = now + max(1.0, self.cfg.window_seconds / 10)
        if evict_half:
            by_age = sorted(self._hosts.items(), key=lambda kv: kv[1].last)
            horizon = max(horizon, by_age[len(by_age) // 2][1].last) if by_age else horizon
        for mac in [m for m, h in self._hosts.items() if h.last < horizon]:
            del self._hosts[mac]
        for host in self._hosts.values():
            host.claimed = {ip: t for ip, t in host.claimed.items() if t >= horizon}
            host.asked = {ip: v for ip, v in host.asked.items() if v[0] >= horizon}
        self._bindings = {ip: b for ip, b in self._bindings.items() if b.last >= horizon}
        self._requests = {k: t for k, t in self._requests.items() if t >= now - _REPLY_WAIT_S}
        self._reported = {m: t for m, t in self._reported.items() if t >= horizon}


def _explain(mac: str, impersonated: list[str], signals: list[str], poisoned: list[str]) -> dict[
        str, str]:  # fmt: skip
    what_en = {
        "contradiction": "claims addresses it also asks for",
        "gateway-takeover": "claims a gateway's address",
        "flip-flop": "fights another host for its address",
        "gratuitous-flood": "floods gratuitous ARP",
        "many-addresses": "claims many addresses",
    }
    what_vi = {
        "contradiction": "tự nhận những địa chỉ mà chính nó lại đi hỏi",
        "gateway-takeover": "tự nhận địa chỉ của gateway",
        "flip-flop": "tranh địa chỉ với một máy khác",
        "gratuitous-flood": "phát tràn ngập gói ARP gratuitous",
        "many-addresses": "tự nhận quá nhiều địa chỉ",
    }
    ips = ", ".join(impersonated[:5]) or "-"
    victims = ", ".join(poisoned[:5]) or "-"
    return {
        "en": f"MAC {mac} {'; '.join(what_en[s] for s in signals)} (impersonated: {ips}; "
        f"hosts sent unsolicited replies: {victims}): ARP spoofing puts it in the middle of "
        f"their traffic. Find its switch port in the MAC address table, check the ARP cache "
        f"of the hosts above (arp -a) and whether {mac} may use these addresses.",
        "vi": f"Địa chỉ MAC {mac} {'; '.join(what_vi[s] for s in signals)} (địa chỉ bị mạo "
        f"danh: {ips}; các máy nhận trả lời ARP không được hỏi: {victims}): giả mạo ARP giúp "
        f"nó đứng giữa luồng dữ liệu của các máy này. Hãy tìm cổng switch của nó trong bảng "
        f"địa chỉ MAC, kiểm tra bộ nhớ đệm ARP của các máy trên (arp -a) và xác nhận {mac} "
        f"có được phép dùng các địa chỉ này không.",
    }
