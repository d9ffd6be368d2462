"""The project's demo capture, analysed: the inventory and risk scores a user would read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.config import load_config
from appliance.service import Service
from tests.helpers.demo_store import analyzed_appliance

pytestmark = pytest.mark.suricata


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = analyzed_appliance(tmp_path_factory.mktemp("assets-demo"))
    svc = Service(load_config(config))
    try:
        yield svc
    finally:
        svc.close()


def _detail(service: Service, ip: str):  # type: ignore[no-untyped-def]
    detail = service.assets.get(ip)
    assert detail is not None, ip
    return detail


def test_a_workstation_named_by_its_dhcp_discover(service: Service) -> None:
    ws = _detail(service, "10.10.20.118").asset
    assert ws.name == "ws-0118" and ws.macs == ["f8:bc:12:0a:14:76"]
    assert ws.vendor == "Dell Inc."
    assert ws.os_guess == "Windows 10/11" and "Windows NT 10.0" in ws.os_basis
    assert ws.sensors == ["dc-core"]


def test_servers_with_banners_names_and_exposure(service: Service) -> None:
    ssh = _detail(service, "10.10.1.22")
    [svc] = [s for s in ssh.services if s["port"] == 22]
    assert svc["banner"] == "SSH-2.0-OpenSSH_9.2p1" and svc["external_flows"] > 0
    assert ssh.risk is not None
    exposure = [f for f in ssh.risk.factors if f.name == "exposure:external"]
    assert exposure and "22/tcp ssh" in exposure[0].detail_en
    ftp = _detail(service, "10.10.1.30")
    assert {s["port"]: s["banner"] for s in ftp.services}[21] == "220 (vsFTPd 3.0.5)"
    assert ftp.risk is not None
    cleartext = [f for f in ftp.risk.factors if f.name == "exposure:cleartext"]
    assert cleartext and "21/tcp FTP" in cleartext[0].detail_en
    web = _detail(service, "10.10.1.11").asset
    assert ("www.gov.example", "http-host") in web.hostnames
    assert web.os_guess == "Linux (Debian)"


def test_every_score_is_the_sum_of_its_factors(service: Service) -> None:
    page = service.assets.list(limit=500)
    assert page.total >= 30
    scored = [a for a in page.items if a.risk]
    assert len(scored) >= 5
    for asset in page.items:
        score = service.risk.host(asset.ip)
        assert sum(f.points for f in score.factors) == score.score <= 100
        assert all(f.detail_en and f.detail_vi for f in score.factors)
    network = service.risk.network()
    assert network.score > 0 and sum(f.points for f in network.factors) == network.score
    assert service.risk.history(None, days=1)[-1][1] == network.score
