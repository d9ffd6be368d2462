"""Merge every scenario's sessions into one time-ordered pcap, streaming."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from scapy.data import DLT_EN10MB
from scapy.utils import PcapWriter

from sensors.demo.attack import ATTACKS
from sensors.demo.network import Frame, PortAllocator, Session
from sensors.demo.scenario import SECOND_US, Context, Scenario
from sensors.demo.traffic import ORDINARY

logger = logging.getLogger(__name__)

DEFAULT_START = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc).timestamp()
SCENARIOS: tuple[Scenario, ...] = ORDINARY + ATTACKS
PORT_BLOCK = 800


@dataclass(frozen=True)
class ScenarioSummary:
    """One scenario as written: who did what to whom, and what a detector should see."""

    name: str
    is_attack: bool
    attacker: str
    victim: str
    indicators: tuple[str, ...]
    packets: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class DemoSummary:
    """What write_demo_capture wrote."""

    path: Path
    seed: int
    packets: int
    start: float
    end: float
    scenarios: tuple[ScenarioSummary, ...]

    @property
    def duration(self) -> float:
        """Seconds between the first and the last packet."""
        return self.end - self.start

    @property
    def attacks(self) -> tuple[ScenarioSummary, ...]:
        """The scenarios a detector should flag."""
        return tuple(item for item in self.scenarios if item.is_attack)


@dataclass
class _Tally:
    packets: int = 0
    first_us: int = 0
    last_us: int = 0


def _tagged(index: int, sessions: Iterator[Session]) -> Iterator[tuple[int, Session]]:
    return ((index, session) for session in sessions if session)


def _sessions(
    seed: int, start_us: int, end_us: int, scenarios: Sequence[Scenario] = SCENARIOS
) -> Iterator[tuple[int, Session]]:
    """Yield (scenario index, session) for all scenarios, ordered by session start."""
    streams = []
    for index, scenario in enumerate(scenarios):
        rng = random.Random(f"spanwatch-demo:{seed}:{scenario.name}")
        ports = PortAllocator(
            random.Random(f"{seed}:{scenario.name}:ports"), base=49152 + index * PORT_BLOCK
        )
        built = scenario.build(Context(rng, start_us, end_us, ports))
        streams.append(_tagged(index, built))
    return heapq.merge(*streams, key=lambda item: min(frame[0] for frame in item[1]))


def _first_frames(
    sessions: Iterator[tuple[int, Session]],
) -> Iterator[tuple[int, int, bytes, Iterator[Frame]]]:
    for index, session in sessions:
        frames = iter(sorted(session, key=lambda frame: frame[0]))
        when, data = next(frames)
        yield when, index, data, frames


def merge_frames(sessions: Iterator[tuple[int, Session]]) -> Iterator[tuple[int, Frame]]:
    """Interleave sessions that overlap in time into one frame stream, keeping few in memory."""
    heap: list[tuple[int, int, int, bytes, Iterator[Frame]]] = []
    order = itertools.count()
    starts = _first_frames(sessions)
    pending = next(starts, None)
    while heap or pending is not None:
        if pending is not None and (not heap or pending[0] <= heap[0][0]):
            when, index, data, frames = pending
            heapq.heappush(heap, (when, next(order), index, data, frames))
            pending = next(starts, None)
            continue
        when, _, index, data, frames = heapq.heappop(heap)
        yield index, (when, data)
        following = next(frames, None)
        if following is not None:
            heapq.heappush(heap, (following[0], next(order), index, following[1], frames))


def write_demo_capture(
    path: Path,
    *,
    seed: int = 1,
    start: float | None = None,
    minutes: int = 30,
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> DemoSummary:
    """Write a deterministic demo capture of a small government data center to path.

    ``scenarios`` replaces the demo's own strands (the campaign capture tells another story).
    """
    if minutes < 1:
        raise ValueError(f"minutes must be at least 1, not {minutes}")
    start_us = int((DEFAULT_START if start is None else start) * SECOND_US)
    end_us = start_us + minutes * 60 * SECOND_US
    tallies = [_Tally() for _ in scenarios]
    total, last_us, first_us = 0, start_us, None
    writer = PcapWriter(str(path), linktype=DLT_EN10MB, sync=False)
    try:
        writer.write_header(None)
        for index, (when, data) in merge_frames(_sessions(seed, start_us, end_us, scenarios)):
            if when < last_us and total:
                raise RuntimeError(f"Demo frames out of order at {when} us (bug).")
            writer.write_packet(data, sec=when // SECOND_US, usec=when % SECOND_US)
            tally = tallies[index]
            tally.first_us = tally.first_us if tally.packets else when
            tally.packets, tally.last_us = tally.packets + 1, when
            first_us = when if first_us is None else first_us
            total, last_us = total + 1, when
    finally:
        writer.close()
    logger.info("Wrote demo capture path=%s packets=%d seed=%d.", path, total, seed)
    return DemoSummary(
        path=path,
        seed=seed,
        packets=total,
        start=(first_us or start_us) / SECOND_US,
        end=last_us / SECOND_US,
        scenarios=tuple(_summarise(scenario, tally) for scenario, tally in zip(scenarios, tallies)),
    )


def _summarise(scenario: Scenario, tally: _Tally) -> ScenarioSummary:
    return ScenarioSummary(
        name=scenario.name,
        is_attack=scenario.is_attack,
        attacker=scenario.attacker,
        victim=scenario.victim,
        indicators=scenario.indicators,
        packets=tally.packets,
        first_seen=tally.first_us / SECOND_US,
        last_seen=tally.last_us / SECOND_US,
    )
