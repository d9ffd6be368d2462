"""The remote sensor's disk buffer: oldest first, within its budget, across restarts."""

from __future__ import annotations

from pathlib import Path

from sensors.spool import Spool


def _body(n: int, size: int = 1000) -> bytes:
    return bytes([n % 256]) * size


def test_batches_come_back_oldest_first_also_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, budget=10**6)
    for n in range(3):
        spool.add({"records": n + 1, "bookmark": {"offset": n}}, _body(n))
    first = spool.oldest()
    assert first is not None and first.meta["bookmark"] == {"offset": 0}
    assert spool.remove(first.entry)
    again = Spool(tmp_path, budget=10**6)
    assert again.count == 2
    second = again.oldest()
    assert second is not None and second.body == _body(1) and second.meta["records"] == 2
    assert again.oldest_spooled_at() is not None


def test_the_budget_drops_the_oldest_and_says_which(tmp_path: Path) -> None:
    spool = Spool(tmp_path, budget=3500)
    dropped = []
    for n in range(5):
        dropped += spool.add({"records": 10}, _body(n))
    assert spool.bytes <= 3500 and spool.count >= 1
    assert sum(e.records for e in dropped) == 10 * (5 - spool.count)
    oldest = spool.oldest()
    assert oldest is not None and oldest.body == _body(5 - spool.count)


def test_a_batch_cut_short_by_a_crash_is_discarded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, budget=10**6)
    spool.add({"records": 1}, _body(1))
    spool.add({"records": 1}, _body(2))
    first = sorted(tmp_path.glob("*.batch"))[0]
    first.write_bytes(first.read_bytes()[:-10])
    again = Spool(tmp_path, budget=10**6)
    assert again.count == 1
    batch = again.oldest()
    assert batch is not None and batch.body == _body(2)


def test_a_split_batch_keeps_its_place_before_later_ones(tmp_path: Path) -> None:
    spool = Spool(tmp_path, budget=10**6)
    spool.add({"records": 2}, _body(1))
    spool.add({"records": 1}, _body(9))
    first = spool.oldest()
    assert first is not None
    spool.replace(first.entry, [({"records": 1}, _body(3)), ({"records": 1, "bookmark": {}},
                                                             _body(4))])  # fmt: skip

    def drain(which: Spool) -> list[bytes]:
        order = []
        while (batch := which.oldest()) is not None:
            order.append(batch.body[:1])
            which.remove(batch.entry)
        return order

    reopened = Spool(tmp_path, budget=10**6)  # as after a restart, before anything is sent
    assert [e.records for e in reopened._entries] == [1, 1, 1]
    assert drain(reopened) == [b"\x03", b"\x04", b"\x09"]
