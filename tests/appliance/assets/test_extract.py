"""What single EVE records tell the inventory (the cases the corpus has no capture for)."""

from __future__ import annotations

from typing import Any

from appliance.assets.extract import Observations, clean_name, home_matcher

TS = "2026-11-24T08:00:00.000000+0000"
HOME = home_matcher(["10.0.0.0/8", "2001:db8::/32"])


def _obs(*records: dict[str, Any]) -> Observations:
    obs = Observations(HOME, {("ja4", "t13d1516h2_8daaf6152771_b186095e22b6"): "Windows 10/11"})
    for r in records:
        obs.add({"timestamp": TS, **r}, "s1")
    return obs


def test_kerberos_machine_account_names_the_client() -> None:
    obs = _obs({"event_type": "krb5", "src_ip": "10.1.1.5", "src_port": 50000,
                "dest_ip": "10.1.1.1", "dest_port": 88, "proto": "UDP",
                "krb5": {"msg_type": "KRB_AS_REQ", "cname": "WS01$", "realm": "CONTOSO.LOCAL"}})
    assert list(obs.names) == [("10.1.1.5", "ws01.contoso.local", "kerberos")]
    assert ("10.1.1.1", 88, "UDP") in obs.services


def test_dns_answers_name_addresses_inside_and_out() -> None:
    obs = _obs({"event_type": "dns", "src_ip": "10.1.1.5", "dest_ip": "10.1.1.53",
                "dest_port": 53, "proto": "UDP",
                "dns": {"type": "answer", "rrname": "mail.example.com", "answers": [
                    {"rrname": "mail.example.com", "rrtype": "A", "rdata": "203.0.113.7"},
                    {"rrname": "7.1.1.10.in-addr.arpa", "rrtype": "PTR", "rdata": "db1.corp"},
                    {"rrname": "x.example.com", "rrtype": "CNAME", "rdata": "y.example.com"}]}})
    assert set(obs.names) == {("203.0.113.7", "mail.example.com", "dns"),
                              ("10.1.1.7", "db1.corp", "dns-ptr")}  # fmt: skip
    assert ("10.1.1.53", 53, "UDP") in obs.services


def test_dhcp_request_vendor_class_and_ethernet_mac() -> None:
    obs = _obs({"event_type": "dhcp", "src_ip": "10.2.0.9", "dest_ip": "10.2.0.1",
                "ether": {"src_mac": "3C-52-82-00-00-01", "dest_mac": "ff:ff:ff:ff:ff:ff"},
                "dhcp": {"type": "request", "client_mac": "3c:52:82:00:00:01",
                         "client_ip": "10.2.0.9", "hostname": "KETOAN-PC\u0000",
                         "vendor_class_identifier": "MSFT 5.0"}})  # fmt: skip
    assert ("10.2.0.9", "ketoan-pc", "dhcp") in obs.names
    assert {k[1:] for k in obs.macs} == {("3c:52:82:00:00:01", "dhcp"),
                                         ("3c:52:82:00:00:01", "ethernet")}  # fmt: skip
    assert obs.os_hints[("10.2.0.9", "dhcp-vendor-class", "MSFT 5.0")][0] == "Windows"


def test_tls_client_fingerprint_from_configuration() -> None:
    obs = _obs({"event_type": "tls", "src_ip": "10.3.0.2", "dest_ip": "198.51.100.4",
                "dest_port": 443, "tls": {"sni": "portal.example.com", "version": "TLS 1.3",
                                          "ja4": "t13d1516h2_8daaf6152771_b186095e22b6"}})
    assert obs.os_hints[("10.3.0.2", "tls-ja4", "t13d1516h2_8daaf6152771_b186095e22b6")][0] == (
        "Windows 10/11")
    assert ("198.51.100.4", "portal.example.com", "tls-sni") in obs.names
    assert obs.services == {}  # the server is outside HOME_NET


def test_attacker_controlled_names_are_cleaned_or_dropped() -> None:
    assert clean_name("WS01\u0000") == "ws01"
    assert clean_name("<script>alert(1)</script>") is None
    assert clean_name("10.0.0.1") is None  # an address is not a name
    assert clean_name("a" * 300) is None
    obs = _obs({"event_type": "http", "src_ip": "10.3.0.2", "dest_ip": "10.3.0.80",
                "dest_port": 80, "proto": "TCP",
                "http": {"hostname": "\"><img src=x>", "server": "nginx\r\nX-Evil: 1",
                         "http_user_agent": "curl/8.0"}})  # fmt: skip
    assert obs.names == {}
    assert obs.services[("10.3.0.80", 80, "TCP")].banner == "nginxX-Evil: 1"
    assert obs.os_hints == {}  # a tool's user agent says nothing about the OS


def test_engine_noise_and_sensor_health_are_no_evidence() -> None:
    obs = _obs(
        {"event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2",
         "alert": {"signature_id": 2200074, "signature": "SURICATA TCPv4 invalid checksum",
                   "severity": 3}},
        {"event_type": "finding", "src_ip": "10.0.0.1", "dest_ip": "10.0.0.1",
         "finding": {"type": "capture-loss", "category": "sensor-health", "severity": 2}},
        {"event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "192.0.2.8",
         "alert": {"signature_id": 2010935, "signature": "ET SCAN MSSQL", "severity": 2}},
        {"event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "192.0.2.9",
         "alert": {"signature_id": 2010935, "signature": "ET SCAN MSSQL", "severity": 1}},
    )  # fmt: skip
    assert list(obs.evidence) == [("10.0.0.1", "source", "alert", "2010935")]
    ev = obs.evidence[("10.0.0.1", "source", "alert", "2010935")]
    assert (ev.count, ev.severity) == (2, 1)


def test_services_need_an_answer_and_a_server_port() -> None:
    def flow(**kw: Any) -> dict[str, Any]:
        base = {"event_type": "flow", "src_ip": "192.0.2.50", "src_port": 40000,
                "dest_ip": "10.0.0.9", "dest_port": 22, "proto": "TCP",
                "flow": {"pkts_toserver": 3, "pkts_toclient": 2,
                         "start": TS, "end": "2026-11-24T08:00:05.000000+0000"},
                "tcp": {"tcp_flags_tc": "12"}}  # fmt: skip
        base.update(kw)
        return base

    obs = _obs(flow(), flow(dest_port=23, flow={"pkts_toserver": 1, "pkts_toclient": 0}),
               flow(src_ip="10.0.0.9", src_port=445, dest_ip="10.0.0.8", dest_port=51000,
                    app_proto="smb", tcp={"tcp_flags_tc": "18"}))  # fmt: skip
    assert list(obs.services) == [("10.0.0.9", 22, "TCP")]
    assert obs.services[("10.0.0.9", 22, "TCP")].external_flows == 1
    assert obs.hosts["10.0.0.9"][1] - obs.hosts["10.0.0.9"][0] == 5_000_000
    assert "192.0.2.50" not in obs.hosts  # outside HOME_NET


def test_a_dhcp_discover_waits_for_the_address_its_mac_gets() -> None:
    discover = {"event_type": "dhcp", "src_ip": "0.0.0.0", "dest_ip": "255.255.255.255",
                "dhcp": {"type": "request", "dhcp_type": "discover", "client_ip": "0.0.0.0",
                         "client_mac": "f8:bc:12:0a:14:76", "hostname": "ws-0118",
                         "vendor_class_identifier": "MSFT 5.0"}}  # fmt: skip
    ack = {"event_type": "dhcp", "src_ip": "10.10.20.1", "dest_ip": "10.10.20.118",
           "dhcp": {"type": "reply", "dhcp_type": "ack", "client_mac": "f8:bc:12:0a:14:76",
                    "assigned_ip": "10.10.20.118"}}  # fmt: skip
    obs = _obs(discover, ack)
    assert obs.names == {}
    obs.resolve_dhcp(lambda mac: None)
    assert ("10.10.20.118", "ws-0118", "dhcp") in obs.names
    assert obs.os_hints[("10.10.20.118", "dhcp-vendor-class", "MSFT 5.0")][0] == "Windows"
    later = _obs(discover)  # the address is known from an earlier batch
    later.resolve_dhcp({"f8:bc:12:0a:14:76": "10.10.20.118"}.get)
    assert ("10.10.20.118", "ws-0118", "dhcp") in later.names
    lost = _obs(discover)
    lost.resolve_dhcp(lambda mac: None)
    assert lost.names == {} and lost.dhcp_pending == {}


def test_ipv6_addresses_are_normalised_and_matched() -> None:
    obs = _obs({"event_type": "dns", "src_ip": "2001:0db8:0000:0000:0000:0000:0000:0005",
                "dest_ip": "2001:db8::53", "dest_port": 53, "proto": "UDP",
                "dns": {"type": "answer", "answers": [
                    {"rrname": "v6.example.com", "rrtype": "AAAA",
                     "rdata": "2001:0db8:0000:0000:0000:0000:0000:0080"}]}})  # fmt: skip
    assert ("2001:db8::80", "v6.example.com", "dns") in obs.names
    assert HOME("2001:db8::5")  # inside 2001:db8::/32
    assert ("2001:db8::53", 53, "UDP") in obs.services
    assert not HOME("2001:db9::1") and HOME("10.255.0.1") and not HOME("11.0.0.1")


def test_spoofed_sources_are_not_hosts_but_one_sided_talkers_are() -> None:
    def flow(src: str, pkts: int, flags: str, proto: str = "TCP") -> dict[str, Any]:
        return {"event_type": "flow", "src_ip": src, "src_port": 40000, "dest_ip": "192.0.2.1",
                "dest_port": 80, "proto": proto, "tcp": {"tcp_flags_ts": flags},
                "flow": {"pkts_toserver": pkts, "pkts_toclient": 0}}  # fmt: skip

    obs = _obs(flow("10.9.0.1", 1, "02"), flow("10.9.0.2", 1, "10"),
               flow("10.9.0.3", 5, "02"), flow("10.9.0.4", 5, "1a"),
               flow("10.9.0.5", 1, "", "UDP"), flow("10.9.0.6", 3, "", "UDP"))  # fmt: skip
    assert sorted(obs.hosts) == ["10.9.0.4", "10.9.0.6"]


def test_a_forged_udp_query_makes_no_host() -> None:
    obs = _obs({"event_type": "dns", "src_ip": "10.7.7.7", "dest_ip": "192.0.2.53",
                "proto": "UDP", "dns": {"type": "query", "rrname": "example.com"}})
    assert obs.hosts == {}
