"""Every finding type the appliance can raise has a name people read, not its code."""

from __future__ import annotations

import re

from tests.helpers.cli import REPO
from webui.alerts.labels import FINDING_TYPES

#: Where findings are made: the analyzers, the sensor-health job, the traffic novelty.
SOURCES = [*(REPO / "sensors" / "analyzers").glob("*.py"),
           REPO / "appliance" / "jobs" / "health.py", REPO / "appliance" / "traffic" / "novelty.py"]
#: Types written literally where a finding is made (``type="port-scan"``), or chosen from
#: literals next to it (``self._finding(e, "syn-flood", ...)``,
#: ``kinds.append("random-user-agent")``); ``event_type=`` is not a finding type.
LITERAL = re.compile(r'(?:\btype=|kinds\.append\(|_finding\(\w+, |_TYPE = )"([a-z0-9-]+)"')
#: Sensor-health findings are named ``sensor-<check>``.
HEALTH_CHECKS = re.compile(r'^\s+"(silent|drops|suricata-down|clock-skew|stale-rules|'
                           r'remote-warning)"', re.M)


def test_every_finding_type_made_in_the_code_has_a_label() -> None:
    made = set()
    for path in SOURCES:
        text = path.read_text()
        made |= set(LITERAL.findall(text))
        if path.name == "health.py":
            made |= {f"sensor-{check}" for check in HEALTH_CHECKS.findall(text)}
            made |= {"sensor-silent", "sensor-remote-warning"}
    assert len(made) >= 30  # the scan itself still finds what it should
    assert sorted(made - FINDING_TYPES.keys()) == []
