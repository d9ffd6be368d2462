"""The inventory built by ``spanwatch analyze`` from real captures: what a user checks."""

from __future__ import annotations

from pathlib import Path

from appliance.assets import osguess
from appliance.assets.inventory import Inventory
from appliance.service import Service
from tests.helpers.assets import SENSOR, analyze, load, pcap

pytestmark = __import__("pytest").mark.suricata


def _asset(service: Service, ip: str):  # type: ignore[no-untyped-def]
    detail = service.assets.get(ip)
    assert detail is not None, f"{ip} not in the inventory"
    return detail


def test_dhcp_gives_hostname_mac_and_vendor(service: Service) -> None:
    nas = _asset(service, "10.16.1.4").asset
    assert ("nas1", "dhcp") in nas.hostnames  # the NUL Suricata keeps is stripped
    assert nas.name == "nas1"
    assert nas.macs == ["00:11:32:17:49:f0"]
    assert nas.vendor == "Synology Incorporated"
    assert nas.sensors == [SENSOR]
    # The request is logged too (extended DHCP): its parameter list, kept for lookup.
    hints = _asset(service, "10.16.1.4").os_hints
    assert [(h["source"], h["value"], h["weight"]) for h in hints] == [
        ("dhcp-fingerprint", "subnet_mask,router,domain,dns_server", 0.0)]
    server = _asset(service, "10.16.1.1")
    assert [(s["port"], s["proto"], s["app_proto"]) for s in server.services] == [
        (67, "UDP", "dhcp")]


def test_ssh_server_banner_is_a_service(service: Service) -> None:
    detail = _asset(service, "192.168.56.103")
    ssh = [s for s in detail.services if s["port"] == 22]
    assert ssh and ssh[0]["app_proto"] == "ssh"
    assert ssh[0]["banner"] == "SSH-2.0-OpenSSH_6.7p1"
    assert detail.asset.os_guess == "Unix-like"
    assert 'ssh-version "OpenSSH_6.7p1"' in detail.asset.os_basis


def test_http_server_header_is_a_banner_and_an_os_clue(service: Service) -> None:
    web = _asset(service, "10.2.2.104")
    http = [s for s in web.services if s["port"] == 80]
    assert http and http[0]["banner"] == "Apache/2.4.7 (Ubuntu)"
    assert web.asset.os_guess == "Linux (Ubuntu)"
    browser = _asset(service, "10.2.2.101").asset
    assert browser.os_guess == "macOS" and "http-user-agent" in browser.os_basis


def test_tls_names_of_an_outside_server_from_sni_and_certificate(service: Service) -> None:
    names = service.assets.names("104.154.89.105")
    assert ("wrong.host.badssl.com", "tls-sni") in names
    assert ("badssl.com", "tls-cert") in names  # a subject alternative name
    assert ("*.badssl.com", "tls-cert") in names
    # Outside HOME_NET: names only, no inventory entry.
    assert service.assets.get("104.154.89.105") is None
    assert service.assets.get("192.168.2.222") is not None  # the client inside


def test_netbios_name_and_smb_native_os(service: Service) -> None:
    client = _asset(service, "172.16.66.1").asset
    assert ("02694w-win10", "netbios") in client.hostnames
    mac = _asset(service, "192.168.1.10")
    assert mac.asset.os_guess == "Mac OS X 10.10"
    assert [h["source"] for h in mac.os_hints] == ["smb-native-os"]


def test_rdp_client_name_and_build(service: Service) -> None:
    client = _asset(service, "10.226.41.226").asset
    assert ("isd2-km84178", "rdp") in client.hostnames
    assert client.os_guess == "Windows XP"
    server = _asset(service, "10.226.29.74")
    assert [(s["port"], s["app_proto"]) for s in server.services] == [(3389, "rdp")]


def test_list_search_and_sort(service: Service) -> None:
    everything = service.assets.list(limit=500, sort="ip")
    ips = [a.ip for a in everything.items]
    assert everything.total == len(ips) and "10.16.1.4" in ips
    assert ips.index("10.16.1.1") < ips.index("10.16.1.4") < ips.index("172.16.66.1")
    assert all(not ip.startswith("104.") for ip in ips)
    found = service.assets.list(q="SYNOLOGY")
    assert [a.ip for a in found.items] == ["10.16.1.4"]
    assert [a.ip for a in service.assets.list(q="nas1").items] == ["10.16.1.4"]
    assert [a.ip for a in service.assets.list(q="00:11:32").items] == ["10.16.1.4"]
    page = service.assets.list(limit=2, offset=1, sort="ip")
    assert [a.ip for a in page.items] == ips[1:3] and page.total == len(ips)


def test_incremental_reads_only_new_chunks(tmp_path: Path) -> None:
    from tests.helpers.assets import write_config

    config = write_config(tmp_path)
    analyze(config, [pcap("suricata-verify/dhcp-eve-extended/input.pcap")])
    svc = Service(load(config))
    try:
        inventory = Inventory(svc)
        first_cursor = inventory.cursor()
        assert first_cursor > 0
        assert inventory.run_once().chunks == 0  # analyze already read everything
        before = svc.assets.get("10.16.1.4")
        analyze(config, [pcap("pcaps/web-attacks/ndpi_WebattackSQLinj.pcap")])
        assert inventory.cursor() > first_cursor
        web = svc.assets.get("192.168.10.50")
        assert web is not None and (80, "TCP") in {(s["port"], s["proto"]) for s in
                                                    web.services}  # fmt: skip
        client = svc.assets.get("172.16.0.1")
        assert client is not None and client.asset.os_guess == "Linux"
        assert "http-user-agent" in client.asset.os_basis
        assert svc.assets.get("10.16.1.4") == before  # untouched by the second capture
        # Reading everything again changes no fact (idempotent upserts).
        with svc.state.transaction() as conn:
            conn.execute("UPDATE kv SET value = '0' WHERE key = 'assets.chunk_cursor'")
        inventory.run_once()
        again = svc.assets.get("10.16.1.4")
        assert again is not None and again.asset == before.asset  # type: ignore[union-attr]
    finally:
        svc.close()


def test_names_and_os_clues_per_source_are_bounded(tmp_path: Path) -> None:
    from appliance.assets.extract import Observations
    from appliance.assets.inventory import MAX_HINTS_PER_SOURCE
    from tests.helpers.assets import write_config

    svc = Service(load(write_config(tmp_path)))
    try:
        inventory = Inventory(svc)
        obs = Observations(inventory.is_home)
        for i in range(80):
            obs.seen("10.0.0.7", 1_000 + i, "s1")
            obs.name("10.0.0.7", f"vhost{i}.example.com", "tls-sni", 1_000 + i)
            obs.hint("10.0.0.7", osguess.from_user_agent(f"Mozilla/5.0 (X11; Linux) v{i}"),
                     1_000 + i)
        inventory._write(obs, 0)
        detail = svc.assets.get("10.0.0.7")
        assert detail is not None
        assert len(detail.names) == svc.cfg.assets.max_names_per_host
        assert detail.names[0]["name"] == "vhost79.example.com"  # the newest are kept
        assert len(detail.os_hints) == MAX_HINTS_PER_SOURCE
        assert detail.asset.os_guess == "Linux"
    finally:
        svc.close()


def test_a_disabled_inventory_reads_nothing(analyzed: Path, tmp_path: Path) -> None:
    cfg = load(analyzed).model_copy(update={"assets": load(analyzed).assets.model_copy(
        update={"enabled": False})})  # fmt: skip
    svc = Service(cfg)
    try:
        key = "assets.chunk_cursor"
        before = svc.state.query("SELECT value FROM kv WHERE key = ?", (key,))[0][0]
        with svc.state.transaction() as conn:
            conn.execute("UPDATE kv SET value = '0' WHERE key = ?", (key,))
        result = Inventory(svc).run_once()
        assert (result.chunks, result.cursor) == (0, 0)
        with svc.state.transaction() as conn:
            conn.execute("UPDATE kv SET value = ? WHERE key = ?", (before, key))
    finally:
        svc.close()


def test_names_of_outside_hosts_are_capped_oldest_first(tmp_path: Path) -> None:
    from appliance.assets.extract import Observations
    from tests.helpers.assets import write_config

    cfg = load(write_config(tmp_path))
    cfg = cfg.model_copy(update={"assets": cfg.assets.model_copy(
        update={"max_outside_names": 1000})})  # fmt: skip
    svc = Service(cfg)
    try:
        inventory = Inventory(svc)
        obs = Observations(inventory.is_home)
        old = 1_300_000_000_000_000  # 2011: an old capture keeps its names (no age limit)
        obs.seen("10.0.0.7", old, "s1")
        obs.name("10.0.0.7", "db.corp.example", "dns", old)  # inside: never capped
        for i in range(1005):
            obs.name(f"198.51.{i // 250}.{i % 250}", f"h{i}.example.com", "dns", old + i)
        inventory._write(obs, 0)
        inventory._expire_outside_names()
        assert svc.assets.names("198.51.0.0") == []  # the least recently seen went
        assert svc.assets.names("198.51.0.5") == []
        assert svc.assets.names("198.51.0.6") == [("h6.example.com", "dns")]
        assert svc.assets.names("198.51.4.4") == [("h1004.example.com", "dns")]
        assert svc.assets.names("10.0.0.7") == [("db.corp.example", "dns")]
    finally:
        svc.close()
