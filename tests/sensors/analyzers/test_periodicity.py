"""The beacon score: timers with jitter and missed check-ins against random arrivals."""

from __future__ import annotations

import itertools
import random

import pytest

from appliance.config import BeaconConfig
from sensors.analyzers.periodicity import merge_bursts, quantile, robust_stats, score_beacon

SECOND = 1_000_000
CFG = BeaconConfig()


def _timer(rng: random.Random, n: int, *, period: float = 60, jitter: float = 0.1,
           missed: float = 0.0) -> list[int]:  # fmt: skip
    """Start times of a timer with +-jitter x period on each check-in and missed ones."""
    times = [i * period + rng.uniform(-jitter, jitter) * period for i in range(n)]
    return [int(t * SECOND) for t in times if rng.random() >= missed]


def _poisson(rng: random.Random, n: int, mean: float = 60) -> list[int]:
    gaps = (rng.expovariate(1 / mean) for _ in range(n))
    return [int(t * SECOND) for t in itertools.accumulate(gaps)]


def test_a_perfect_timer_scores_one() -> None:
    starts = [i * 60 * SECOND for i in range(20)]
    score = score_beacon(starts, [500] * 20, CFG)
    assert score is not None
    assert score.score == pytest.approx(1.0)
    assert (score.beats, score.period_s, score.missed, score.off_beat) == (20, 60, 0, 0)


@pytest.mark.parametrize("seed", range(20))
def test_a_jittered_timer_with_missed_check_ins_scores_high(seed: int) -> None:
    rng = random.Random(seed)
    starts = _timer(rng, 40, jitter=0.1, missed=0.2)
    sizes = [rng.randint(480, 520) for _ in starts]
    score = score_beacon(starts, sizes, CFG)
    assert score is not None and score.score >= CFG.min_score, score
    assert 54 <= score.period_s <= 66
    assert score.missed > 0 and score.coverage < 1


@pytest.mark.parametrize("seed", range(20))
def test_random_arrivals_with_constant_sizes_score_low(seed: int) -> None:
    rng = random.Random(seed)
    starts = _poisson(rng, 30)
    score = score_beacon(starts, [500] * len(starts), CFG)
    assert score is None or score.score < CFG.min_score, score


def test_connections_of_one_check_in_count_once() -> None:
    starts = [t for i in range(12) for t in (i * 60 * SECOND, i * 60 * SECOND + SECOND // 2)]
    score = score_beacon(starts, [300] * len(starts), CFG)
    assert score is not None
    assert (score.beats, score.size_median) == (12, 600)
    assert merge_bursts([0, 10, 5 * SECOND], [1, 2, 3], SECOND) == [[0, 3], [5 * SECOND, 3]]


def test_too_few_check_ins_or_a_too_short_period_are_not_scored() -> None:
    assert score_beacon([i * 60 * SECOND for i in range(9)], [1] * 9, CFG) is None
    fast = [i * 3 * SECOND for i in range(50)]  # a retry loop, not a timer
    assert score_beacon(fast, [1] * 50, CFG) is None


def test_a_long_pause_is_off_the_beat_not_a_run_of_missed_check_ins() -> None:
    starts = [i * 60 * SECOND for i in range(15)] + [(3600 + i * 60) * SECOND for i in range(15)]
    score = score_beacon(starts, [500] * 30, CFG)
    assert score is not None
    assert (score.off_beat, score.missed) == (1, 0)
    assert score.score >= CFG.min_score


def test_robust_statistics() -> None:
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([7], 0.25) == 7
    median, mad, skew = robust_stats([1, 2, 3, 4, 100], floor=0)
    assert (median, mad) == (3, 1)
    assert skew == pytest.approx(0.0)  # Bowley skewness ignores the outlier
    assert robust_stats([10, 10, 10, 10], floor=2)[2] == 0
