"""Threat intelligence: IOC feeds loaded, indexed for matching, exported to Suricata.

Pure code (no sensor imports): :func:`load_feeds` reads the configured feeds (plain
text, CSV, STIX 2.1, MISP JSON) into :class:`Indicator` objects that keep their feed
name; :class:`IndicatorIndex` answers "is this listed?" in constant time for the EVE
analyzer; :func:`write_suricata_datasets` writes the same indicators as Suricata
datasets plus rules (sids 9,100,000-9,199,999).
"""

from appliance.intel.dataset import DatasetExport, write_suricata_datasets
from appliance.intel.feed import FeedReport, IntelError, Problem, load_feed, load_feeds
from appliance.intel.index import IndicatorIndex
from appliance.intel.indicator import TYPES, Indicator, infer_type, normalize

__all__ = [
    "TYPES",
    "DatasetExport",
    "FeedReport",
    "Indicator",
    "IndicatorIndex",
    "IntelError",
    "Problem",
    "infer_type",
    "load_feed",
    "load_feeds",
    "normalize",
    "write_suricata_datasets",
]
