"""Notifications over real loopback receivers: single messages, rate limits, digests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.notify import Notifier
from appliance.notify.message import incident_item, incident_message
from appliance.service import Service
from tests.helpers.incidents import incidents
from tests.helpers.receivers import http_receiver, udp_receiver


@pytest.fixture
def receivers(appliance_config: Path) -> Iterator[tuple[Service, list[bytes], list[dict]]]:
    with udp_receiver() as (port, syslog), http_receiver() as (url, hooks):
        cfg = load_config(appliance_config, overrides={
            "core.notify.syslog": {"enabled": True, "port": port},
            "core.notify.webhooks": [{"url": f"{url}/hook"},
                                     {"url": f"{url}/bot123/sendMessage", "kind": "telegram",
                                      "chat_id": "-100"}],
            "core.notify.min_severity": "high",
        })  # fmt: skip
        service = Service(cfg)
        yield service, syslog, hooks
        service.close()


def wait_for(items: list, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(items) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_new_high_incident_reaches_every_channel(receivers: tuple) -> None:
    service, syslog, hooks = receivers
    assert Notifier(service).incidents(incidents(1)) == 1
    wait_for(syslog, 1)
    assert len(syslog) == 1 and b"New high incident" in syslog[0]
    generic = next(h for h in hooks if h["path"] == "/hook")["json"]
    assert generic["kind"] == "incident" and generic["items"][0]["victims"] == ["192.0.2.10"]
    telegram = next(h for h in hooks if h["path"].endswith("/sendMessage"))["json"]
    assert telegram["chat_id"] == "-100" and "Quét cổng" in telegram["text"]
    assert "parse_mode" not in telegram


def test_incidents_below_the_threshold_are_not_sent(receivers: tuple) -> None:
    service, syslog, hooks = receivers
    assert Notifier(service).incidents(incidents(3, severity="medium")) == 0
    time.sleep(0.2)
    assert syslog == [] and hooks == []


def test_a_burst_of_a_thousand_incidents_is_one_digest(receivers: tuple) -> None:
    service, syslog, hooks = receivers
    assert Notifier(service).incidents(incidents(1000)) == 1
    wait_for(syslog, 1)
    time.sleep(0.3)
    assert len(syslog) == 1 and b"Digest: 1000 new incidents" in syslog[0]
    assert len(hooks) == 2
    generic = next(h for h in hooks if h["path"] == "/hook")["json"]
    assert generic["kind"] == "digest" and generic["count"] == 1000
    telegram = next(h for h in hooks if h["path"].endswith("/sendMessage"))["json"]
    assert len(telegram["text"]) <= 4000 and "1000" in telegram["text"]


def test_beyond_the_rate_limit_incidents_wait_for_one_digest(receivers: tuple) -> None:
    service, syslog, _hooks = receivers
    clock = [1_795_500_000.0]
    notifier = Notifier(service, clock=lambda: clock[0])
    for n in range(1, 9):  # one at a time: five go out, then the limit holds the rest
        notifier.incidents([incidents(n)[-1]])
    wait_for(syslog, 5)
    time.sleep(0.2)
    assert len(syslog) == 5
    assert notifier.flush() == 0  # still inside the window
    clock[0] += 16 * 60
    assert notifier.flush() == 1
    wait_for(syslog, 6)
    assert b"Digest: 3 new incidents" in syslog[-1]
    assert notifier.flush() == 0


def test_a_failing_channel_does_not_stop_the_others(appliance_config: Path) -> None:
    with http_receiver() as (url, hooks):
        cfg = load_config(appliance_config, overrides={"core.notify.webhooks": [
            {"url": "http://127.0.0.1:9/refused", "timeout_seconds": 2}, {"url": url}]})
        service = Service(cfg)
        outcome = Notifier(service).dispatch(incident_message(incident_item(incidents(1)[0])))
        assert outcome == {"webhook-0": False, "webhook-1": True}
        assert len(hooks) == 1
        log = Notifier(service).log()
        assert {r["channel"]: r["ok"] for r in log} == {"webhook-0": 0, "webhook-1": 1}
        assert json.dumps(log)  # plain rows for the UI
        service.close()
