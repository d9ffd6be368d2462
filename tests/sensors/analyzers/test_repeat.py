"""The repeat gate: one finding per key and window, bounded memory."""

from __future__ import annotations

from sensors.analyzers.repeat import RepeatGate


def test_a_key_is_due_once_per_window_and_keys_are_independent() -> None:
    gate = RepeatGate(window_us=100, capacity=10)
    assert gate.due("a", 0) and gate.due("b", 50)
    assert not gate.due("a", 99)
    assert gate.due("a", 100) and not gate.due("b", 149)


def test_the_least_recently_reported_keys_are_forgotten_first() -> None:
    gate = RepeatGate(window_us=1000, capacity=2)
    gate.due("a", 0)
    gate.due("b", 1)
    gate.due("c", 2)
    assert len(gate) == 2
    assert gate.due("a", 3)  # forgotten, so reported again
    assert not gate.due("c", 4)
