"""``spanwatch intel update|status``: the threat-intelligence feeds as Suricata datasets.

``update`` loads every enabled feed of ``intel:``, reports per feed what it held and what
was skipped, and writes the datasets, hash lists and ``spanwatch-intel.rules`` into
``DATA_DIR/intel``, which the sensor and ``analyze`` load beside the other rules (a
running Suricata picks them up at its next rule reload). A feed that cannot be read stops
the update and the previous export stays in place.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ConfigError
from appliance.intel.dataset import RULES_NAME, write_suricata_datasets
from appliance.intel.feed import IntelError, load_feeds

logger = logging.getLogger(__name__)


def intel_rules(cfg: AppConfig) -> Path:
    """Where the exported intelligence rules live (they may not exist yet)."""
    return cfg.data_dir / "intel" / RULES_NAME


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``spanwatch intel``."""
    intel = sub.add_parser("intel", parents=[common],
                           help="export threat-intelligence feeds for Suricata")  # fmt: skip
    intel.add_argument("action", choices=["update", "status"])
    intel.add_argument("--json", action="store_true", help="print one JSON object")
    intel.set_defaults(handler=run_intel)


def run_intel(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Run ``spanwatch intel``."""
    if args.action == "status":
        path = intel_rules(cfg)
        rules = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                    if line.startswith("alert ")) if path.is_file() else 0  # fmt: skip
        status = {"rules_file": str(path), "exported": path.is_file(), "rules": rules,
                  "feeds": [f.name for f in cfg.intel.feeds if f.enabled]}  # fmt: skip
        print(json.dumps(status) if args.json else
              f"{rules} intelligence rules in {path}" if path.is_file() else
              f"No intelligence exported yet ({path}); run `spanwatch intel update`.")
        return 0
    try:
        indicators, reports = load_feeds(cfg.intel)
    except (IntelError, OSError) as err:
        raise ConfigError(f"Threat-intelligence feed unusable, nothing exported: {err}") from err
    export = write_suricata_datasets(indicators, intel_rules(cfg).parent)
    if args.json:
        print(json.dumps({"rules_file": str(export.rules_path), "rules": export.rule_count,
                          "counts": export.counts, "skipped": export.skipped,
                          "feeds": [r.summary() for r in reports]}))  # fmt: skip
        return 0
    for report in reports:
        print(report.summary())
        for warning in report.warnings[:10]:
            print(f"  {warning}")
    print(f"Wrote {export.rule_count} rules to {export.rules_path}; a running Suricata "
          "loads them at its next rule reload (`spanwatch rules update`).")
    return 0
