"""suricata-verify cases: finding them, gating them on versions, and checking EVE records.

A case is a folder holding ``test.yaml``: its pcap, optional rules and ``suricata.yaml``,
and ``checks``. This module is our own reading of suricata-verify's conventions:

* ``filter`` checks count the records that match every ``match`` entry. A key is a
  dotted path (``alert.signature_id``), a part may index a list (``dns.answers[0]``),
  and the last part may be an operator: ``__len``, ``__find``, ``__contains``,
  ``__startswith``, ``__endswith``, ``__gt``, ``__gte``, ``__lt``, ``__lte``. The keys
  ``has-key`` / ``not-has-key`` take a dotted path as their value. A field that is
  absent or JSON ``null`` counts as missing, as upstream does.
* ``stats`` checks compare dotted paths in the last ``stats`` record.
* ``requires`` (on the case or on one check) gates on ``min-version``, ``lt-version``,
  ``version`` and ``features``; a check gated away is skipped, not failed.
* ``shell`` and ``file-compare`` checks run programs or compare files in upstream's
  output folder; they say nothing about EVE records and are reported as not evaluated.

It also compares the EVE records of two runs of one Suricata on one capture, leaving out
what differs from run to run (random flow ids, thread timing in stats).
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The Suricata these cases are run against (``suricata -V``).
SURICATA_VERSION = (7, 0, 10)

_INDEX_RE = re.compile(r"^(?P<name>.*?)(?P<indices>(?:\[\d+\])+)$")
_OPERATORS = (
    "__len", "__find", "__contains", "__startswith", "__endswith",
    "__gte", "__gt", "__lte", "__lt",
)  # fmt: skip
_MISSING = object()
#: libyaml's safe loader when present: the 145 test.yaml files load 10x faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class VerifyCase:
    """One suricata-verify test folder, with its inputs resolved to paths."""

    name: str
    directory: Path
    pcap: Path
    rules: Path | None
    suricata_yaml: Path | None
    args: tuple[str, ...]
    env: Mapping[str, str]
    requires: Mapping[str, Any]
    checks: tuple[Mapping[str, Any], ...]

    @property
    def wants_ips(self) -> bool:
        """suricata-verify adds ``--simulate-ips`` when the test's name contains "ips"."""
        return "ips" in self.directory.name


@dataclass
class CheckResult:
    """The outcome of one check: "pass", "fail", "skip" (gated) or "unevaluated"."""

    index: int
    kind: str
    status: str
    detail: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)


# -- cases ---------------------------------------------------------------------------------


def discover_cases(root: Path) -> list[VerifyCase]:
    """Every case under ``root`` (folders holding a ``test.yaml``), sorted by name."""
    return [load_case(root, p.parent) for p in sorted(root.rglob("test.yaml"))]


def load_case(root: Path, directory: Path) -> VerifyCase:
    """Read ``directory/test.yaml`` and resolve the pcap, rules and configuration."""
    text = (directory / "test.yaml").read_text(encoding="utf-8")
    spec = yaml.load(text, Loader=_YAML_LOADER) or {}
    args: list[str] = []
    for item in spec.get("args") or []:
        args.extend(shlex.split(str(item)))
    own_yaml = directory / "suricata.yaml"
    return VerifyCase(
        name=directory.relative_to(root).as_posix(),
        directory=directory,
        pcap=_pcap_of(directory, spec),
        rules=_rules_of(directory, spec),
        suricata_yaml=own_yaml if own_yaml.is_file() else None,
        args=tuple(args),
        env={str(k): str(v) for k, v in (spec.get("env") or {}).items()},
        requires=spec.get("requires") or {},
        checks=tuple(spec.get("checks") or ()),
    )


def _pcap_of(directory: Path, spec: Mapping[str, Any]) -> Path:
    if spec.get("pcap"):
        return (directory / str(spec["pcap"])).resolve()
    found = sorted([*directory.glob("*.pcap"), *directory.glob("*.pcapng")])
    if len(found) != 1:
        raise ValueError(f"{directory}: expected one pcap, found {len(found)}")
    return found[0]


def _rules_of(directory: Path, spec: Mapping[str, Any]) -> Path | None:
    """``rules:`` from test.yaml, else the folder's single ``*.rules`` (upstream's rule)."""
    if spec.get("rules"):
        return (directory / str(spec["rules"])).resolve()
    found = sorted(directory.glob("*.rules"))
    if len(found) > 1:
        raise ValueError(f"{directory}: more than one rules file")
    return found[0] if found else None


# -- requirements --------------------------------------------------------------------------


def parse_version(text: Any) -> tuple[int, ...]:
    """``7`` -> (7,), ``"7.0.5"`` -> (7, 0, 5), ``6.0`` -> (6, 0); suffixes are ignored."""
    match = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    if not match:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in match.groups() if part is not None)


def _padded(version: tuple[int, ...]) -> tuple[int, ...]:
    return (version + (0, 0, 0))[:3]


def unmet_requirement(
    requires: Mapping[str, Any] | None,
    *,
    version: tuple[int, ...] = SURICATA_VERSION,
    features: Iterable[str] = (),
) -> str | None:
    """Why ``requires`` rules this Suricata out, or None when it is satisfied."""
    have = set(features)
    for key, value in (requires or {}).items():
        if key == "min-version" and _padded(version) < _padded(parse_version(value)):
            return f"needs Suricata >= {value}"
        if key == "lt-version" and _padded(version) >= _padded(parse_version(value)):
            return f"needs Suricata < {value}"
        if key == "version":
            wanted = parse_version(value)
            if version[: len(wanted)] != wanted:
                return f"only for Suricata {value}"
        if key == "features":
            missing = [f for f in value if f not in have]
            if missing:
                return f"needs build features {', '.join(missing)}"
        if key not in ("min-version", "lt-version", "version", "features", "pcap"):
            raise ValueError(f"unsupported requirement {key!r}")
    return None


# -- field lookup and matching -------------------------------------------------------------


def find_value(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``a.b[0].c``), or ``_MISSING``; null is missing."""
    node = record
    for part in path.split("."):
        name, indices = part, ""
        indexed = _INDEX_RE.match(part)
        if indexed:
            name, indices = indexed["name"], indexed["indices"]
        if not isinstance(node, dict) or name not in node:
            return _MISSING
        node = node[name]
        for index in re.findall(r"\d+", indices):
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
    return _MISSING if node is None else node


def is_missing(value: Any) -> bool:
    """True for the marker :func:`find_value` returns for an absent field."""
    return value is _MISSING


def split_operator(key: str) -> tuple[str, str | None]:
    """``"dns.answers.__len"`` -> (``"dns.answers"``, ``"__len"``)."""
    for op in _OPERATORS:
        if key.endswith("." + op):
            return key[: -len(op) - 1], op
    return key, None


def values_equal(actual: Any, expected: Any) -> bool:
    """Equality as JSON means it: ``true`` is not ``1``; 1 equals 1.0; lists and maps deeply."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            values_equal(actual[k], expected[k]) for k in actual
        )
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(values_equal, actual, expected))
    return bool(actual == expected)


def _apply(op: str | None, value: Any, expected: Any) -> bool:
    if op == "__len":
        size = len(value) if isinstance(value, (str, list, dict)) else -1
        return values_equal(size, expected)
    if is_missing(value):
        return False
    if op is None:
        return values_equal(value, expected)
    if op == "__contains":
        return isinstance(value, (str, list, dict)) and expected in value
    if op in ("__find", "__startswith", "__endswith"):
        if not isinstance(value, str):
            return False
        text = str(expected)
        return {"__find": text in value, "__startswith": value.startswith(text),
                "__endswith": value.endswith(text)}[op]  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return {"__gt": value > expected, "__gte": value >= expected,
            "__lt": value < expected, "__lte": value <= expected}[op]  # fmt: skip


def record_matches(record: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    """True when ``record`` satisfies every entry of a filter's ``match`` block."""
    for key, expected in match.items():
        if key in ("has-key", "not-has-key"):
            present = not is_missing(find_value(record, str(expected)))
            if present != (key == "has-key"):
                return False
            continue
        path, op = split_operator(key)
        if not _apply(op, find_value(record, path), expected):
            return False
    return True


# -- checks --------------------------------------------------------------------------------


def evaluate_filter(spec: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> str:
    """What went wrong, or an empty string when the filter holds over ``records``."""
    match = spec.get("match") or {}
    count = sum(1 for record in records if record_matches(record, match))
    if count == spec["count"]:
        return ""
    return f"expected {spec['count']} matching records, found {count}: {dict(match)}"


def evaluate_stats(spec: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """What differs, or an empty string when every dotted counter matches the last stats."""
    stats = [r for r in records if r.get("event_type") == "stats"]
    if not stats:
        return "no stats record"
    last = stats[-1].get("stats") or {}
    wrong = []
    for key, expected in spec.items():
        value = find_value(last, str(key))
        if is_missing(value) or not values_equal(value, expected):
            wrong.append(f"stats.{key}: expected {expected}, got "
                         f"{'nothing' if is_missing(value) else value}")  # fmt: skip
    return "; ".join(wrong)


def evaluate_checks(
    case: VerifyCase,
    records: Sequence[Mapping[str, Any]],
    *,
    other_files: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    features: Iterable[str] = (),
) -> list[CheckResult]:
    """Run every check of ``case`` over ``records`` (the eve.json records).

    A filter naming another ``filename`` reads ``other_files[filename]``; without it the
    check is reported as not evaluated.
    """
    feats = frozenset(features)
    results = []
    for index, check in enumerate(case.checks):
        kind, spec = next(iter(check.items()))
        result = CheckResult(index, kind, "pass", spec=spec)
        gate = unmet_requirement(spec.get("requires"), features=feats) if isinstance(
            spec, dict) else None  # fmt: skip
        if gate:
            result.status, result.detail = "skip", gate
        elif kind == "filter":
            source = _records_for(spec, records, other_files)
            if source is None:
                result.status, result.detail = "unevaluated", f"no {spec['filename']}"
            else:
                result.detail = evaluate_filter(spec, source)
        elif kind == "stats":
            result.detail = evaluate_stats(spec, records)
        else:
            result.status, result.detail = "unevaluated", f"{kind} checks are not run"
        if result.status == "pass" and result.detail:
            result.status = "fail"
        results.append(result)
    return results


def _records_for(
    spec: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    other_files: Mapping[str, Sequence[Mapping[str, Any]]] | None,
) -> Sequence[Mapping[str, Any]] | None:
    name = spec.get("filename")
    if not name or name == "eve.json":
        return records
    return (other_files or {}).get(str(name))


def build_features(build_info: str) -> frozenset[str]:
    """The ``Features:`` line of ``suricata --build-info``."""
    for line in build_info.splitlines():
        if line.startswith("Features:"):
            return frozenset(line.split()[1:])
    return frozenset()


# -- comparing two runs of Suricata -------------------------------------------------------


#: Counters of a ``stats`` record that depend on thread timing, not on the packets: the
#: flow manager's and workers' eviction passes, the spare-flow and segment pools, and the
#: wall clock. Of the ``flow`` section only the packet-driven counts are compared.
_STABLE_FLOW_STATS = ("total", "tcp", "udp", "icmpv4", "icmpv6", "tcp_reuse", "end")
_VOLATILE_TCP_STATS = ("segment_from_pool", "segment_from_cache", "ssn_from_pool",
                       "ssn_from_cache")  # fmt: skip


def canonical_record(record: Mapping[str, Any], *, detection: bool = True) -> str:
    """A record as sorted JSON, without what differs between two runs of one Suricata.

    Flow ids (and ``parent_id``, a flow id) hash with a seed Suricata draws at start-up;
    IKE payload types come from an unordered set; stats carry thread timing; a flow
    record's own timestamp is when the flow manager logged it, which depends on thread
    timing for flows still open when a capture ends (its start and end stay). Without
    ``detection`` (a case without rules: ``--disable-detection`` for the reference, an
    empty rule file for analyze) the stats' ``detect`` section is left out too.
    """
    data = {k: v for k, v in record.items() if k not in ("flow_id", "parent_id")}
    if isinstance(data.get("ike"), dict) and isinstance(data["ike"].get("payload"), list):
        data["ike"] = {**data["ike"], "payload": sorted(data["ike"]["payload"])}
    if data.get("event_type") == "flow":
        data.pop("timestamp", None)
    if data.get("event_type") == "stats":
        data.pop("timestamp", None)
        data["stats"] = _stable_stats(data.get("stats") or {})
        if not detection:
            data["stats"].pop("detect", None)
    return json.dumps(data, sort_keys=True)


def _stable_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in stats.items() if k != "uptime"}
    if isinstance(out.get("flow"), dict):
        out["flow"] = {k: v for k, v in out["flow"].items() if k in _STABLE_FLOW_STATS}
    if isinstance(out.get("tcp"), dict):
        out["tcp"] = {k: v for k, v in out["tcp"].items() if k not in _VOLATILE_TCP_STATS}
    if isinstance(out.get("detect"), dict):
        engines = [{k: v for k, v in e.items() if k != "last_reload"}
                   for e in out["detect"].get("engines", [])]  # fmt: skip
        out["detect"] = {**out["detect"], "engines": engines}
    return out


def flow_groups(records: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, ...]]:
    """How flow ids group records: one sorted tuple of canonical records per flow id."""
    groups: dict[int, list[str]] = {}
    for record in records:
        if record.get("flow_id") is not None:
            groups.setdefault(record["flow_id"], []).append(canonical_record(record))
    return Counter(tuple(sorted(group)) for group in groups.values())


def alert_keys(records: Sequence[Mapping[str, Any]]) -> Counter[tuple[Any, ...]]:
    """(timestamp, sid, src, dest) of every alert, counted."""
    return Counter(
        (
            r["timestamp"],
            r["alert"]["signature_id"],
            r.get("src_ip"),
            r.get("src_port"),
            r.get("dest_ip"),
            r.get("dest_port"),
            r.get("proto"),
        )
        for r in records
        if r.get("event_type") == "alert"
    )


def sid_counts(records: Sequence[Mapping[str, Any]]) -> Counter[int]:
    """Alerts per signature id."""
    return Counter(r["alert"]["signature_id"] for r in records if r.get("event_type") == "alert")


def type_counts(records: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Records per event type."""
    return Counter(str(r.get("event_type")) for r in records)


def differing_paths(left: Any, right: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [p for k in sorted({*left, *right})
                for p in differing_paths(left.get(k), right.get(k), f"{prefix}{k}.")]  # fmt: skip
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [p for i, (x, y) in enumerate(zip(left, right))
                for p in differing_paths(x, y, f"{prefix}[{i}].")]  # fmt: skip
    return [] if left == right else [f"{prefix.rstrip('.')}: {left!r} != {right!r}"[:200]]


def describe_difference(stored: Counter[str], reference: Counter[str], limit: int = 3) -> str:
    """Which records only one side holds; a stored one is set against its nearest peer."""
    only_store = list((stored - reference).elements())
    only_ref = list((reference - stored).elements())
    lines = [f"{len(only_store)} records only in the store, {len(only_ref)} only in eve.json"]
    for text in only_store[:limit]:
        record = json.loads(text)
        peers = [json.loads(t) for t in only_ref]
        peers = [p for p in peers if p.get("event_type") == record.get("event_type")]
        if peers:
            best = min((differing_paths(record, p) for p in peers), key=len)
            lines.append(f"  {record.get('event_type')}: store vs eve.json: {best[:8]}")
        else:
            lines.append(f"  only in store: {text[:300]}")
    lines += [f"  only in eve.json: {t[:300]}" for t in only_ref[:limit] if not only_store]
    return "\n".join(lines)
