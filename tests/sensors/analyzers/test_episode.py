"""Sliding windows and episodes: order, windows, quiet, lateness, memory."""

from __future__ import annotations

import random

from sensors.analyzers.episode import EpisodeTracker, Obs, Threshold

SECOND = 1_000_000
T0 = 1_714_557_600 * SECOND


def tracker(**change: int) -> EpisodeTracker:
    """Six distinct failed items within 60 s; reported after 30 s of quiet."""
    args = {"window_us": 60 * SECOND, "quiet_us": 30 * SECOND, "retention_us": 3600 * SECOND,
            "repeat_us": 3600 * SECOND, "max_keys": 1000} | change  # fmt: skip
    return EpisodeTracker(threshold=Threshold(min_failed=6, min_items=6), **args)


def obs(seconds: float, item: int, failed: bool = True) -> Obs:
    ts = T0 + int(seconds * SECOND)
    return (ts, f"t{seconds}", failed, 0, 0, item if failed else None, None, item, None)


def test_an_episode_holds_every_observation_whatever_the_order() -> None:
    t = tracker()
    flows = [obs(i * 0.5, i) for i in range(100)]
    random.Random(1).shuffle(flows)
    found = []
    for start in range(0, 100, 10):
        for o in flows[start : start + 10]:
            t.add("key", o)
        found += t.due(T0)  # reading a capture: the log clock stands still
    found += t.flush()
    assert len(found) == 1
    tally = found[0].tally
    assert (tally.flows, len(tally.items), tally.last_timestamp) == (100, 100, "t49.5")
    assert len(tally.flow_ids) == 20


def test_live_an_episode_is_reported_once_the_log_clock_shows_it_quiet() -> None:
    t = tracker()
    for i in range(6):
        t.add("key", obs(i, i))
    assert t.due(T0 + 70 * SECOND) == []  # detected, but the scan may go on
    assert t.due(T0 + 90 * SECOND) == []
    (episode,) = t.due(T0 + 100 * SECOND)  # 30 s without news
    assert episode.reported and episode.tally.flows == 6
    t.add("key", obs(7, 99))  # late evidence joins the reported episode
    assert t.due(T0 + 200 * SECOND) == [] and t.flush() == []
    assert episode.tally.flows == 7


def test_while_the_log_clock_stands_still_episodes_wait_for_the_end() -> None:
    t = tracker()
    for i in range(6):
        t.add("key", obs(i, i))
    t.add("later", obs(3000, 1))  # event time moves on: no reason to report
    assert t.due(T0) == []
    assert len(t.flush()) == 1


def test_items_spread_wider_than_the_window_are_no_episode() -> None:
    t = tracker()
    for i in range(12):
        t.add("key", obs(i * 15, i))  # at most five in any 60 s
    assert t.flush() == []


def test_a_second_attack_after_the_repeat_span_is_a_second_episode() -> None:
    t = tracker(repeat_us=600 * SECOND)
    for i in range(6):
        t.add("key", obs(i, i))
        t.add("key", obs(700 + i, i))
    assert len(t.flush()) == 2


def test_memory_is_bounded_by_keys_and_by_event_time() -> None:
    t = tracker(max_keys=100)
    for i in range(1000):
        t.add(f"k{i}", obs(i, i))
    t.due(T0)
    assert len(t) <= 100
    t.add("late", obs(-7200, 1))  # older than the retention: not counted
    assert t.late == 1
    t.add("k", obs(10_000, 1))
    t.due(T0)
    assert len(t) == 1


def test_a_key_failing_on_one_item_all_hour_is_still_reported_when_it_scans() -> None:
    # A client retrying one closed port every 10 s, checked batch by batch as live: its
    # windows are full of failures but hold one item, and are dismissed without being
    # merged. When it then tries six ports within the window, that is an episode.
    t = tracker()
    found = []
    for second in range(0, 3600, 10):
        t.add("key", obs(second, 0))
        found += t.due(T0 + second * SECOND)
    assert found == []
    for i in range(1, 6):
        t.add("key", obs(3600 + i, i))
    found += t.due(T0 + 3606 * SECOND) + t.flush()
    (episode,) = found
    assert episode.tally.items == {0, 1, 2, 3, 4, 5}


def test_a_batch_that_changes_many_buckets_of_a_key_finds_each_episode() -> None:
    # A capture read at once: every bucket of the key changed in one batch (each window is
    # judged once). A scan of seven ports every ten minutes, one port failing in between.
    t = tracker(repeat_us=300 * SECOND)
    for s in range(0, 3000, 3):
        t.add("key", obs(s, s % 7 + 1 if s % 600 < 40 else 0))
    found = t.due(T0) + t.flush()
    assert [(e.tally.first_us - T0) // SECOND for e in found] == [0, 501, 1101, 1701, 2301]
    assert all(e.tally.items == set(range(8)) for e in found)


def test_skipping_keys_with_too_few_distinct_items_finds_the_same_episodes() -> None:
    # A key is judged only once it has had as many distinct items as the threshold asks
    # (fewer, and no window of it can cross). On random streams of few items over many
    # batches, that shortcut finds what judging every changed window finds.
    rng = random.Random(7)
    with_episodes = 0
    for _ in range(40):
        stream = []
        for _ in range(300):
            seconds, item, failed = rng.uniform(0, 1200), rng.randrange(9), rng.random() < 0.85
            stream.append((f"k{rng.randrange(4)}", obs(seconds, item, failed)))
        stream.sort(key=lambda kv: kv[1][0] + rng.randrange(-20, 20) * SECOND)  # nearly in order
        found = []
        for shortcut in (True, False):
            t = tracker(repeat_us=300 * SECOND)
            if not shortcut:
                t._min_items = 0  # judge every changed window, as without the shortcut
            episodes = []
            for start in range(0, len(stream), 25):
                for key, o in stream[start : start + 25]:
                    t.add(key, o)
                episodes += t.due(T0 + start * SECOND)
            episodes += t.flush()
            found.append(sorted((e.key, e.tally.flows, sorted(e.tally.items)) for e in episodes))
        assert found[0] == found[1]
        with_episodes += bool(found[0])
    assert with_episodes >= 20  # the streams do make episodes
