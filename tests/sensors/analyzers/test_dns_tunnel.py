"""DNS tunnels, exfiltration and DGA: synthetic dns records, the DNS tunnel captures, benign
DNS (CDNs, reverse lookups, AD service lookups, mail server lookups)."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from appliance.config import DnsTunnelConfig
from sensors.analyzers.dns_tunnel import DnsTunnelAnalyzer
from sensors.demo.capture import write_demo_capture
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir

TYPES = {"dns-tunnel", "dns-exfiltration", "dga"}
CLIENT, RESOLVER, FORWARDER = "192.0.2.50", "192.0.2.53", "198.51.100.53"
START = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc).timestamp()
PCAPS = _testdata_dir() / "pcaps"
SV = _testdata_dir() / "suricata-verify"


def _ts(seconds: float) -> str:
    moment = datetime.fromtimestamp(START + seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _dns(at: float, name: str, rrtype: str = "A", *, client: str = CLIENT,
         server: str = RESOLVER, rcode: str | None = None,
         rdata: list[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """A query and its answer as Suricata 7 logs them (the client is src_ip of both)."""
    base = {"flow_id": int(at * 1000) + len(name), "event_type": "dns", "src_ip": client,
            "src_port": 50000, "dest_ip": server, "dest_port": 53, "proto": "UDP",
            "community_id": f"1:{len(name):027d}="}  # fmt: skip
    query = {**base, "timestamp": _ts(at),
             "dns": {"version": 2, "type": "query", "id": 7, "rrname": name, "rrtype": rrtype}}
    answers = [{"rrname": name, "rrtype": rrtype, "ttl": 0, "rdata": r} for r in rdata or []]
    answer = {**base, "timestamp": _ts(at + 0.02),
              "dns": {"version": 2, "type": "answer", "id": 7, "rrname": name, "rrtype": rrtype,
                      "rcode": rcode or "NOERROR", "answers": answers}}  # fmt: skip
    return [query, answer]


def _run(records: list[dict[str, Any]], cfg: DnsTunnelConfig | None = None) -> list[dict[str, Any]]:
    return run_analyzer(DnsTunnelAnalyzer(cfg or DnsTunnelConfig()), records)


def _b32(rng: random.Random, size: int) -> str:
    return base64.b32encode(rng.randbytes(size)).decode().lower().rstrip("=")


def test_a_txt_tunnel_with_encoded_labels_is_one_dns_tunnel() -> None:
    rng, records = random.Random(1), []
    for i in range(60):
        name = f"{_b32(rng, 35)}.{i:04x}beef.t.example.com"
        records += _dns(i * 1.5, name, "TXT", rdata=[_b32(rng, 20)])
    (finding,) = _run(records)
    body = finding["finding"]
    assert (finding["src_ip"], body["type"], body["category"]) == (
        CLIENT, "dns-tunnel", "command-and-control")
    evidence = body["evidence"]
    assert evidence["domain"] == "t.example.com"
    assert evidence["unique_names"] >= evidence["encoded_names"] == 20  # when it crossed
    assert evidence["query_types"] == {"TXT": evidence["queries"]}
    assert evidence["dns_servers"] == [RESOLVER]
    assert "t.example.com" in body["explanation"]["en"] and "đường hầm" in body["explanation"]["vi"]


def test_hex_data_in_ordinary_lookups_is_exfiltration() -> None:
    rng = random.Random(2)
    records = [r for i in range(40) for r in _dns(i, f"{rng.randbytes(30).hex()}.example.net")]
    (finding,) = _run(records)
    assert (finding["finding"]["type"], finding["finding"]["category"]) == (
        "dns-exfiltration", "exfiltration")


def test_commands_in_txt_answers_make_a_tunnel_without_encoded_names() -> None:
    rng, records = random.Random(3), []
    for i in range(30):
        chunk = base64.b64encode(rng.randbytes(180)).decode()
        records += _dns(i * 2, f"l.{i}.ns.example.org", "TXT", rdata=[chunk])
    (finding,) = _run(records)
    evidence = finding["finding"]["evidence"]
    assert (finding["finding"]["type"], evidence["domain"]) == ("dns-tunnel", "ns.example.org")
    assert evidence["encoded_names"] == 0 and evidence["answer_bytes"] >= 2048


def test_a_resolvers_forwarded_queries_count_for_the_host_that_asked() -> None:
    rng, records = random.Random(4), []
    for i in range(40):
        name = f"{rng.randbytes(20).hex()}.x.example.com"
        records += _dns(i, name, "AAAA")
        records += _dns(i + 0.001, name, "AAAA", client=RESOLVER, server=FORWARDER)
    assert finding_hosts(_run(records), TYPES) == {("dns-exfiltration", CLIENT)}


def test_names_without_a_domain_sent_straight_to_a_server_are_grouped_by_server() -> None:
    rng = random.Random(5)  # dnscat2 without a domain
    records = [r for i in range(30) for r in _dns(i, f"dnscat.{rng.randbytes(28).hex()}", "MX",
                                                   server=FORWARDER, rdata=["dnscat.ab"])]
    (finding,) = _run(records)
    assert finding["finding"]["type"] == "dns-tunnel"
    assert FORWARDER in finding["finding"]["evidence"]["domain"]


def test_nxdomain_for_many_random_domains_is_a_dga() -> None:
    rng = random.Random(6)
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = ["".join(rng.choice(letters) for _ in range(12)) + ".com" for _ in range(12)]
    records = [r for i, n in enumerate(names) for r in _dns(i, n, rcode="NXDOMAIN")]
    (finding,) = _run(records)
    evidence = finding["finding"]["evidence"]
    assert (finding["finding"]["type"], finding["src_ip"]) == ("dga", CLIENT)
    assert evidence["nxdomain_domains"] == 10 and evidence["random_looking_domains"] >= 3


def test_typos_stale_names_and_browser_probes_are_not_a_dga() -> None:
    words = ["exmaple", "gooogle", "micosoft", "wikipeda", "facebok", "yotube", "amazn",
             "netflx", "linkdin", "githb", "stackoverflw", "oldintranet"]  # fmt: skip
    records = [r for i, w in enumerate(words) for r in _dns(i, f"{w}.com", rcode="NXDOMAIN")]
    probes = [r for i in range(10) for r in _dns(i, f"qwhzkd{i}xjv", rcode="NXDOMAIN")]
    assert _run(records + probes) == []


def test_ordinary_dns_raises_nothing() -> None:
    rng, records = random.Random(7), []
    for i in range(200):
        at = i * 0.5
        records += _dns(at, f"e{rng.randint(1000, 9999)}.dscb.akamaiedge.net")
        records += _dns(at, f"www{i}.example.com", rdata=[f"d{rng.randbytes(7).hex()[:13]}."
                        "cloudfront.net", "192.0.2.80"])  # a CNAME chain  # fmt: skip
        records += _dns(at, f"d{rng.randbytes(7).hex()[:13]}.cloudfront.net")
        records += _dns(at, f"r{i % 9}---sn-{_b32(rng, 5)[:7]}-nbo6l.googlevideo.com")
        records += _dns(at, f"{i}.{i % 7}.51.198.in-addr.arpa", "PTR", rcode="NXDOMAIN")
        records += _dns(at, f"_ldap._tcp.dc{i % 3}._msdcs.corp.example.com", "SRV")
        records += _dns(at, f"sel{i}._domainkey.sender{i}.example", "TXT", rdata=["v=DKIM1; " * 40])
        records += _dns(at, f"sender{i}.example", "TXT", rdata=["v=spf1 include:_spf " * 20])
        records += _dns(at, f"{i % 250}.113.0.203.zen.spamhaus.org", rcode="NXDOMAIN")
    assert _run(records) == []


def test_a_hex_dga_domain_in_an_http_host_is_reported_once() -> None:
    http = {"timestamp": _ts(0), "flow_id": 9, "event_type": "http", "src_ip": CLIENT,
            "src_port": 49727, "dest_ip": "203.0.113.138", "dest_port": 80, "proto": "TCP",
            "http": {"hostname": "db54a845.top", "url": "/de/", "http_method": "GET"}}  # fmt: skip
    cdn = {**http, "http": {"hostname": "db54a845.cloudfront.net", "url": "/"}}
    (finding,) = _run([http, {**http, "timestamp": _ts(5)}, cdn])
    assert (finding["finding"]["type"], finding["src_ip"], finding["dest_ip"]) == (
        "dga", CLIENT, "203.0.113.138")
    assert finding["finding"]["evidence"]["domain"] == "db54a845.top"
    assert _run([http], DnsTunnelConfig(dga_hex_names=False)) == []


def test_a_long_tunnel_is_reported_once_per_window() -> None:
    rng = random.Random(8)
    records = [r for i in range(300)
               for r in _dns(i * 4, f"{_b32(rng, 30)}.t.example.com", "NULL", rdata=["x" * 40])]
    findings = _run(records)  # 20 minutes: two windows of 10
    assert [f["finding"]["type"] for f in findings] == ["dns-tunnel", "dns-tunnel"]


# -- captures through spanwatch analyze -------------------------------------------------


@pytest.mark.suricata
def test_dns_tunnel_captures_and_the_demo_tunnel_are_found(tmp_path: Path) -> None:
    demo = tmp_path / "demo.pcap"
    write_demo_capture(demo, seed=4, minutes=15)
    tunnels = PCAPS / "dns-tunneling"
    captures = [tunnels / "ndpi_dns-tunnel-iodine.pcap", tunnels / "ndpi_dns_exfiltration.pcap",
                tunnels / "pcapattack_cmds_over_dns_txt_queries_and_reponses.pcap",
                PCAPS / "c2-malware/pcapattack_C2_Foudre_Backdoor_DGA.pcapng", demo]  # fmt: skip
    findings = analyze_findings(tmp_path, captures)
    assert finding_hosts(findings, TYPES) == {
        ("dns-tunnel", "10.0.2.30"),  # iodine: NULL queries under pirate.sea
        ("dns-tunnel", "192.168.220.56"),  # dnscat2: hex names, MX/CNAME/TXT, no domain
        ("dns-tunnel", "192.168.100.121"),  # PowerShell in TXT answers from ostrykebs.pl
        ("dga", "10.0.2.15"),  # Foudre: HTTP to db54a845.top, no DNS in the capture
        ("dns-tunnel", "10.10.20.117"),  # demo: base32 TXT under t.example.org
    }  # the demo's resolver 10.10.1.53 forwards the tunnel and is not reported
    (demo_tunnel,) = [f for f in findings if f["src_ip"] == "10.10.20.117"
                      and f["finding"]["type"] in TYPES]
    assert demo_tunnel["finding"]["evidence"]["domain"] == "t.example.org"


@pytest.mark.suricata
def test_suricata_verify_dns_captures_raise_nothing(tmp_path: Path) -> None:
    captures = sorted({*SV.glob("dns*/**/*.pcap*"), SV / "decode-teredo-01/input.pcap",
                       SV / "vxlan-decoder-03/vxlan.pcap", SV / "bug-5197/input.pcap",
                       SV / "bug-5633-gre-02/gre-sample.pcap",
                       SV / "http-protocol-inspect-v2/http.pcap",
                       SV / "datasets-04-http-dns/input.pcap"})  # fmt: skip
    assert len(captures) >= 15
    assert finding_hosts(analyze_findings(tmp_path, captures), TYPES) == set()
