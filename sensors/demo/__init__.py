"""A deterministic demo capture of a small government data center seen on a SPAN port.

Ordinary office and server traffic with a handful of attacks mixed in, for demos,
tests and the `spanwatch demo-capture` command.
"""

from sensors.demo.capture import DemoSummary, ScenarioSummary, write_demo_capture
from sensors.demo.cli import main_demo_capture

__all__ = ["DemoSummary", "ScenarioSummary", "main_demo_capture", "write_demo_capture"]
