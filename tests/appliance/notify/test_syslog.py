"""Syslog messages are well-formed RFC 5424 (and CEF), over UDP and TCP, escaped."""

from __future__ import annotations

import datetime as dt
import re
import time

from appliance.config_core import SyslogConfig
from appliance.notify.message import incident_item, incident_message
from appliance.notify.syslog import cef, rfc5424, send_syslog
from tests.helpers.incidents import FakeIncident
from tests.helpers.receivers import tcp_receiver, udp_receiver

NOW = dt.datetime(2026, 11, 24, 1, 2, 3, 456000, tzinfo=dt.UTC)
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+) "
    rb"(?P<sd>-|\[.*?(?<!\\)\]) (?P<msg>.*)$", re.S,
)  # fmt: skip


def hostile() -> FakeIncident:
    return FakeIncident(id=7, severity="critical", title='Evil "]host\\ = |x', attackers=["a|b"])


def test_rfc5424_header_structured_data_and_utf8_body() -> None:
    line = rfc5424(incident_message(incident_item(hostile())), hostname="sensor-1", now=NOW)
    match = RFC5424.match(line)
    assert match, line
    assert int(match["pri"]) == 16 * 8 + 2  # local0, crit
    assert match["ts"] == b"2026-11-24T01:02:03.456Z"
    assert (match["host"], match["app"], match["msgid"]) == (b"sensor-1", b"spanwatch", b"incident")
    assert b'incident="7"' in match["sd"] and b'severity="critical"' in match["sd"]
    assert match["msg"].startswith(b"\xef\xbb\xbf")
    assert 'Evil "]host' in match["msg"][3:].decode()


def test_cef_escapes_pipes_and_equals() -> None:
    line = cef(incident_message(incident_item(hostile())), hostname="s", now=NOW).decode()
    body = line[line.index("CEF:0|"):]
    header = re.split(r"(?<!\\)\|", body)
    assert header[:6] == ["CEF:0", "spanwatch", "spanwatch", header[3], "incident",
                          '[spanwatch] New critical incident: Evil "]host\\\\ = \\|x']  # fmt: skip
    assert header[6] == "10"
    extension = body.split("|10|", 1)[1]
    assert "src=a|b" in extension
    assert 'msg=[spanwatch] New critical incident: Evil "]host\\\\ \\= |x' in extension
    assert "externalId=7" in body


def test_udp_and_tcp_delivery_to_a_loopback_collector() -> None:
    msg = incident_message(incident_item(FakeIncident(id=3)))
    with udp_receiver() as (port, got):
        send_syslog(SyslogConfig(enabled=True, port=port), msg)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RFC5424.match(got[0])
    with tcp_receiver() as (port, got):
        send_syslog(SyslogConfig(enabled=True, port=port, protocol="tcp", format="cef"), msg)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        size, _, frame = got[0].partition(b" ")
        assert int(size) == len(frame) and b"CEF:0|spanwatch|" in frame
