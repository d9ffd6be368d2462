"""What admins do with the inventory: edit assets, import and export CSV."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.assets.service import AssetError
from appliance.service import Service
from tests.helpers.assets import analyze, load, pcap, write_config

pytestmark = pytest.mark.suricata


@pytest.fixture(scope="module")
def analyzed_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = write_config(tmp_path_factory.mktemp("edits"))
    analyze(config, [pcap("suricata-verify/dhcp-eve-extended/input.pcap"),
                     pcap("pcaps/brute-force/zeek_sshguess.pcap")])  # fmt: skip
    return config


@pytest.fixture
def service(analyzed_once: Path, tmp_path: Path) -> Iterator[Service]:
    """A copy of the analysed store per test: each test edits its own."""
    shutil.copytree(analyzed_once.parent / "data", tmp_path / "data")
    svc = Service(load(write_config(tmp_path)))
    try:
        yield svc
    finally:
        svc.close()


def _audit_actions(service: Service) -> list[str]:
    rows = service.state.query("SELECT action FROM audit_log ORDER BY id")
    return [r[0] for r in rows]


def test_update_sets_owner_agency_criticality_tags_and_is_audited(service: Service) -> None:
    asset = service.assets.update("10.16.1.4", owner="Nguyễn Văn A", agency="Sở TT&TT",
                                  criticality="high", tags=["nas", "backup", "nas"],
                                  actor="admin")  # fmt: skip
    assert (asset.owner, asset.agency, asset.criticality, asset.tags) == (
        "Nguyễn Văn A", "Sở TT&TT", "high", ["nas", "backup"])
    assert service.assets.list(q="backup").items[0].ip == "10.16.1.4"
    assert service.assets.list(q="sở tt").total == 1
    assert "asset.update" in _audit_actions(service)
    cleared = service.assets.update("10.16.1.4", owner="", tags=[], actor="admin")
    assert (cleared.owner, cleared.tags, cleared.agency) == (None, [], "Sở TT&TT")


def test_bad_edits_are_refused_and_change_nothing(service: Service) -> None:
    with pytest.raises(AssetError, match="criticality must be one of"):
        service.assets.update("10.16.1.4", criticality="urgent", actor="admin")
    with pytest.raises(AssetError, match="control characters"):
        service.assets.update("10.16.1.4", owner="a\nb", actor="admin")
    with pytest.raises(AssetError, match="No asset 192.0.2.99"):
        service.assets.update("192.0.2.99", owner="x", actor="admin")
    with pytest.raises(AssetError, match="Unknown sort"):
        service.assets.list(sort="name; DROP TABLE assets")
    detail = service.assets.get("10.16.1.4")
    assert detail is not None and detail.asset.criticality == "normal"
    assert detail.asset.owner is None


def test_csv_round_trip(service: Service) -> None:
    service.assets.update("192.168.56.103", owner="Trung tâm dữ liệu", criticality="critical",
                          tags=["ssh", "=formula"], actor="admin")  # fmt: skip
    exported = service.assets.export_csv()
    header, *lines = exported.splitlines()
    assert header.startswith("ip,name,hostnames,macs,vendor,os_guess,services")
    assert any(line.startswith("10.16.1.4,nas1,nas1 (dhcp),00:11:32:17:49:f0,Synology")
               for line in lines)  # fmt: skip
    edited = exported.replace("Trung tâm dữ liệu", "Phòng mạng")
    created, updated, errors = service.assets.import_csv(edited, actor="admin")
    assert (created, errors) == (0, []) and updated == len(lines)
    after = service.assets.get("192.168.56.103")
    assert after is not None
    assert (after.asset.owner, after.asset.criticality, after.asset.tags) == (
        "Phòng mạng", "critical", ["ssh", "=formula"])
    assert service.assets.export_csv() == edited
    assert "asset.import" in _audit_actions(service)


def test_import_registers_unseen_addresses(service: Service) -> None:
    created, updated, errors = service.assets.import_csv(
        "ip,owner,criticality\n10.99.0.1,Kho bạc,critical\n10.16.1.4,NAS team,\n", actor="admin")
    assert (created, updated, errors) == (1, 1, [])
    new = service.assets.get("10.99.0.1")
    assert new is not None and new.asset.first_seen is None and new.asset.criticality == "critical"
    nas = service.assets.get("10.16.1.4")
    assert nas is not None and nas.asset.owner == "NAS team" and nas.asset.criticality == "normal"


def test_bad_csv_names_the_lines_and_imports_nothing(service: Service) -> None:
    text = "ip,owner,criticality\n10.16.1.4,ok,high\n10.16.1.400,x,low\n10.16.1.1,y,extreme\n"
    created, updated, errors = service.assets.import_csv(text, actor="admin")
    assert (created, updated) == (0, 0)
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4"]
    nas = service.assets.get("10.16.1.4")
    assert nas is not None and nas.asset.owner is None  # the good line was not applied


def test_new_since(service: Service) -> None:
    nas = service.assets.get("10.16.1.4")
    assert nas is not None and nas.asset.first_seen is not None
    newer = service.assets.new_since(nas.asset.first_seen)
    assert [a.ip for a in newer][:2] == ["10.16.1.4", "10.16.1.1"] or "10.16.1.4" in [
        a.ip for a in newer]
    assert all(a.first_seen is not None and a.first_seen >= nas.asset.first_seen for a in newer)
    assert "192.168.56.103" not in [a.ip for a in newer]  # 2015, before the 2020 DHCP


def test_criticality_lookup_for_incident_severity(service: Service) -> None:
    service.assets.update("10.16.1.4", criticality="critical", actor="admin")
    assert service.assets.criticality(["10.16.1.4", "10.16.1.1", "192.0.2.1"]) == {
        "10.16.1.4": "critical", "10.16.1.1": "normal"}


def test_filters_by_criticality_tag_and_sensor(service: Service) -> None:
    service.assets.update("10.16.1.4", criticality="high", tags=["nas", "50%_off"], actor="a")
    service.assets.update("192.168.56.103", criticality="high", tags=["ssh"], actor="a")
    high = service.assets.list(criticality="high", sort="ip")
    assert [a.ip for a in high.items] == ["10.16.1.4", "192.168.56.103"] and high.total == 2
    assert [a.ip for a in service.assets.list(tag="nas").items] == ["10.16.1.4"]
    assert [a.ip for a in service.assets.list(q="nas", criticality="high").items] == [
        "10.16.1.4"]
    assert service.assets.list(q="nas", tag="ssh").total == 0
    assert service.assets.list(sensor="elsewhere").total == 0
    assert service.assets.list(sensor="asset-test").total == service.assets.list().total
    # LIKE wildcards in a search are literal text.
    assert [a.ip for a in service.assets.list(q="50%_").items] == ["10.16.1.4"]
    assert service.assets.list(q="5_%").total == 0


def test_delete_an_asset(service: Service) -> None:
    service.assets.delete("192.168.56.103", actor="admin")
    assert service.assets.get("192.168.56.103") is None
    assert service.assets.names("192.168.56.103") == []
    assert "asset.delete" in _audit_actions(service)
    with pytest.raises(AssetError, match="No asset 192.168.56.103"):
        service.assets.delete("192.168.56.103", actor="admin")


def test_a_moved_dhcp_lease_shows_the_other_address(service: Service) -> None:
    from appliance.assets.extract import Observations
    from appliance.assets.inventory import Inventory

    inventory = Inventory(service)
    obs = Observations(inventory.is_home)
    obs.seen("10.16.1.77", 1_700_000_000_000_000, "asset-test")
    obs.mac("10.16.1.77", "00:11:32:17:49:f0", "dhcp", 1_700_000_000_000_000)
    inventory._write(obs, inventory.cursor())
    nas = service.assets.get("10.16.1.4")
    assert nas is not None
    assert nas.same_mac == [{"ip": "10.16.1.77", "mac": "00:11:32:17:49:f0",
                             "last_seen": 1_700_000_000_000_000}]  # fmt: skip
    moved = service.assets.get("10.16.1.77")
    assert moved is not None and moved.asset.vendor == "Synology Incorporated"
    assert [o["ip"] for o in moved.same_mac] == ["10.16.1.4"]
