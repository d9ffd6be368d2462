"""Work beside Suricata: the packet pass in a thread; the traffic rollups and the inventory in
a process of their own."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from appliance.config import AppConfig
from appliance.service import Service
from appliance.store import event_id, open_store
from sensors.analyzers.packet import load_packet_analyzers
from sensors.capture import analyze_packets
from sensors.overlap import (
    HELPER_NICENESS,
    PacketPass,
    StoreFollower,
    lower_priority,
    own_threads,
    restore_priority,
)
from tests.helpers import cli
from tests.helpers.analysis import synthetic_records
from tests.helpers.eve import wait_for

PCAPS = cli.testdata_dir() / "pcaps"
POISON = PCAPS / "arp-spoofing" / "chrissanders_arppoison.pcapng"
BASIC_AUTH = PCAPS / "cleartext-creds" / "zeek_basic-auth-with-colon.pcap"


def test_packet_pass_gives_each_capture_its_findings_in_order() -> None:
    cfg = AppConfig()
    expected = analyze_packets(POISON, load_packet_analyzers(cfg))
    assert expected, "the ARP poisoning capture has packet findings"
    passes = PacketPass(cfg, [POISON, BASIC_AUTH, POISON])
    assert passes.findings(0) == expected
    assert passes.findings(1) == []
    assert passes.findings(2) == expected


def test_a_thread_that_yields_to_suricata_passes_it_on_and_gets_it_back() -> None:
    # The analysis lowers its own priority as Suricata starts; the threads it starts then
    # (the store's writer, the packet pass) must inherit that, and all get it back after.
    seen: dict[str, int] = {}

    def child() -> None:
        seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def analysis() -> None:
        lower_priority()
        worker = threading.Thread(target=child)
        worker.start()
        worker.join()
        seen["tids"] = threading.get_native_id() in own_threads()
        restore_priority([threading.get_native_id()])
        seen["after"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=analysis)
    thread.start()
    thread.join()
    assert seen["child"] == HELPER_NICENESS and seen["tids"]
    if os.geteuid() == 0:  # only root may raise a priority again
        assert seen["after"] == 0


# -- the rollups and the inventory ----------------------------------------------------------


def _config(tmp_path: Path) -> AppConfig:
    return AppConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "networks": {"home": ["10.0.0.0/8"]}}
    )


def _store_flows(cfg: AppConfig, first: int, hosts: int, source: int) -> None:
    """Flow records from ``hosts`` inside addresses, 10.0.0.<first>... to 10.9.9.9."""
    records = synthetic_records(
        {"timestamp": f"2026-11-24T10:00:{i:02d}.000000+0000", "event_type": "flow",
         "src_ip": f"10.0.0.{first + i}", "src_port": 40000 + i, "dest_ip": "10.9.9.9",
         "dest_port": 443, "proto": "TCP",
         "flow": {"pkts_toserver": 3, "pkts_toclient": 2, "bytes_toserver": 300,
                  "bytes_toclient": 200, "start": "2026-11-24T10:00:00.000000+0000",
                  "end": "2026-11-24T10:00:01.000000+0000", "state": "closed"}}
        for i in range(hosts)
    )  # fmt: skip
    for record in records:
        record.id = event_id(source, record.id)
    store = open_store(cfg.store_path)
    try:
        store.add_events(records, "overlap-test")
    finally:
        store.close()


def _rolled_up(cfg: AppConfig) -> int:
    """Flows counted by the traffic rollups."""
    from appliance.traffic.service import TrafficService

    store = open_store(cfg.store_path)
    try:
        return TrafficService(store).totals(0, 1 << 62)["flows"]
    finally:
        store.close()


def _inventory(cfg: AppConfig) -> set[str]:
    service = Service(cfg)
    try:
        return {ip for ip in (f"10.0.0.{i}" for i in range(1, 30)) if service.assets.get(ip)}
    finally:
        service.close()


def test_inventory_follows_the_ingest_and_ends_with_all_of_it(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    follower = StoreFollower(cfg)  # before any database is open, as analyze does
    _store_flows(cfg, 1, 5, source=1)
    follower.start()
    # It reads what is stored while the analysis goes on, not only at the end.
    wait_for(lambda: len(_inventory(cfg)) == 5, timeout=20, what="the first hosts")
    wait_for(lambda: _rolled_up(cfg) == 5, timeout=20, what="the first flows rolled up")
    _store_flows(cfg, 6, 5, source=2)
    follower.finish()
    assert _inventory(cfg) == {f"10.0.0.{i}" for i in range(1, 11)}
    assert _rolled_up(cfg) == 10


def test_a_cancelled_analysis_never_reaches_the_inventory(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    follower = StoreFollower(cfg)
    _store_flows(cfg, 1, 5, source=1)
    follower.cancel()
    follower.start()
    follower.finish()
    assert _inventory(cfg) == set()
    assert _rolled_up(cfg) == 0  # `spanwatch core` counts them later, if they stay


def test_with_another_thread_running_the_inventory_is_made_at_the_end(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        follower = StoreFollower(cfg)  # no fork beside a running thread
        _store_flows(cfg, 1, 3, source=1)
        follower.start()
        assert _inventory(cfg) == set()
        assert _rolled_up(cfg) == 0
        follower.finish()
    finally:
        release.set()
        other.join()
    assert _inventory(cfg) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert _rolled_up(cfg) == 3


def test_a_disabled_inventory_stays_empty_and_the_rollups_are_made(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cfg = cfg.model_copy(update={"assets": cfg.assets.model_copy(update={"enabled": False})})
    follower = StoreFollower(cfg)
    _store_flows(cfg, 1, 3, source=1)
    follower.start()
    follower.finish()
    assert _inventory(cfg) == set()
    assert _rolled_up(cfg) == 3


def test_beside_spanwatch_ingest_only_the_rollups_are_made(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    follower = StoreFollower(cfg, inventory=False, nice=False)
    _store_flows(cfg, 1, 4, source=1)
    follower.start()
    follower.finish()
    assert _inventory(cfg) == set()
    assert _rolled_up(cfg) == 4
