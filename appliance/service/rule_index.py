"""The rule index in the state database: every known rule, searchable in milliseconds.

Rules are read from the active ruleset and from the rule files of the enabled sources
(ET Open's files, uploaded bundles, our local rules) into ``rule_index``, with a full-text
index (SQLite FTS5) over message, SID, classtype, category, content and metadata. The
index is rebuilt only when one of those files changes (their sizes and mtimes are the
signature), so a search costs one FTS query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from appliance.errors import RulesError
from appliance.suricata.rule_text import ParsedRule, read_rules

logger = logging.getLogger(__name__)

#: The effective state of a rule: its SID's override, else its category's, else its
#: classtype's, else what its file says.
EFFECTIVE = "COALESCE(ps.enabled, pc.enabled, pt.enabled, r.enabled_default)"
OVERRIDE = ("CASE WHEN ps.enabled IS NOT NULL THEN 'sid' WHEN pc.enabled IS NOT NULL THEN "
            "'category' WHEN pt.enabled IS NOT NULL THEN 'classtype' END")  # fmt: skip
POLICY_JOINS = (
    "LEFT JOIN rule_policy ps ON ps.kind = 'sid' AND ps.key = CAST(r.sid AS TEXT) "
    "LEFT JOIN rule_policy pc ON pc.kind = 'category' AND pc.key = r.category "
    "LEFT JOIN rule_policy pt ON pt.kind = 'classtype' AND pt.key = r.classtype "
)
JOINS = "FROM rule_index r " + POLICY_JOINS
_TOKEN = re.compile(r"[\w.:/]+(?:-[\w.:/]+)*", re.UNICODE)
MAX_QUERY_TERMS = 12


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One file to index and where its rules come from."""

    path: Path
    source: str
    active: bool = False


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A rule as the rules page lists it."""

    sid: int
    gid: int
    rev: int
    action: str
    proto: str
    msg: str
    classtype: str
    category: str
    source: str
    enabled: bool  # what the next apply will make it
    enabled_default: bool  # what its file says
    active: bool  # enabled in the running ruleset
    in_active: bool  # present (enabled or not) in the running ruleset
    override: str | None  # "sid" | "category" | "classtype" | None

    @property
    def pending(self) -> bool:
        """True when applying the policy will switch this rule on or off."""
        return self.enabled != self.active

    def as_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["pending"] = self.pending
        return data


@dataclass(frozen=True, slots=True)
class RuleDiff:
    """What applying now would change in the running ruleset, by SID."""

    added: list[RuleRow] = field(default_factory=list)
    removed: list[RuleRow] = field(default_factory=list)
    changed: list[RuleRow] = field(default_factory=list)
    thresholds_changed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "added": [r.sid for r in self.added], "removed": [r.sid for r in self.removed],
            "changed": [r.sid for r in self.changed],
            "thresholds_changed": self.thresholds_changed,
        }  # fmt: skip


SELECT_ROWS = (f"SELECT r.sid, r.gid, r.rev, r.action, r.proto, r.msg, r.classtype, "
               f"r.category, r.source, {EFFECTIVE} AS enabled, r.enabled_default, r.active, "
               f"r.active_rev, {OVERRIDE} AS override ")  # fmt: skip


def row_of(row: sqlite3.Row) -> RuleRow:
    return RuleRow(
        sid=row["sid"], gid=row["gid"], rev=row["rev"], action=row["action"],
        proto=row["proto"], msg=row["msg"], classtype=row["classtype"],
        category=row["category"], source=row["source"], enabled=bool(row["enabled"]),
        enabled_default=bool(row["enabled_default"]), active=bool(row["active"]),
        in_active=row["active_rev"] is not None, override=row["override"],
    )  # fmt: skip


def fts_query(text: str) -> str | None:
    """A safe FTS5 query for what a person typed: every word must match (as a prefix).

    Quotes, operators and column filters typed by the user are not FTS syntax here:
    each word is quoted, so ``AND``, ``*`` or ``"`` cannot break or widen the query.
    """
    terms = _TOKEN.findall(text)[:MAX_QUERY_TERMS]
    if not terms:
        return None
    # One or two letters match as a whole word ("ET"), longer ones as a prefix: a prefix
    # of two letters would expand to thousands of terms.
    return " AND ".join('"' + t.replace('"', "") + ('"*' if len(t) > 2 else '"') for t in terms)


def signature(files: Sequence[RuleFile]) -> str:
    """Changes when any input file (or the list of them) changes."""
    parts = []
    for f in files:
        try:
            st = f.path.stat()
            parts.append([str(f.path), f.source, f.active, st.st_size, st.st_mtime_ns])
        except OSError:
            parts.append([str(f.path), f.source, f.active, None, None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def expand(files: Iterable[RuleFile]) -> list[RuleFile]:
    """Directories expanded into their ``.rules`` files; missing paths dropped."""
    out: list[RuleFile] = []
    for f in files:
        if f.path.is_dir():
            out += [RuleFile(p, f.source, f.active) for p in sorted(f.path.rglob("*.rules"))]
        elif f.path.is_file() and f.path.name.endswith(".rules"):
            out.append(f)
    return out


def collect(files: Sequence[RuleFile]) -> tuple[dict[int, ParsedRule], dict[int, ParsedRule]]:
    """(rules of the sources by SID, rules of the active ruleset by SID)."""
    sources: dict[int, ParsedRule] = {}
    active: dict[int, ParsedRule] = {}
    for f in files:
        try:
            rules = read_rules(f.path, source=f.source)
        except OSError as err:
            logger.warning("Cannot read rule file %s: %s.", f.path, err)
            continue
        target = active if f.active else sources
        for rule in rules:
            # The first file naming a SID wins, like suricata-update's first source.
            target.setdefault(rule.sid, rule)
    return sources, active


def rebuild(conn: sqlite3.Connection, files: Sequence[RuleFile]) -> int:
    """Replace the index with the rules of ``files`` (inside the caller's transaction)."""
    sources, active = collect(files)
    rows = []
    for sid, rule in sources.items():
        live = active.get(sid)
        rows.append(_values(rule, live))
    for sid, live in active.items():
        if sid not in sources:
            # Only in the running ruleset: Suricata's own decoder/stream/app-layer rules
            # (suricata-update adds them) or a downloaded source.
            builtin = live.msg.startswith("SURICATA ")
            rule = replace(live, category="suricata" if builtin else "", source="active")
            rows.append(_values(rule, live))
    conn.execute("DELETE FROM rule_index")
    conn.executemany(
        "INSERT INTO rule_index (sid, gid, rev, action, proto, msg, classtype, category, "
        "source, enabled_default, active, active_rev, content, metadata, raw) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("INSERT INTO rule_fts(rule_fts) VALUES ('rebuild')")
    return len(rows)


def _values(rule: ParsedRule, live: ParsedRule | None) -> tuple[Any, ...]:
    return (
        rule.sid, rule.gid, rule.rev, rule.action, rule.proto, rule.msg, rule.classtype,
        rule.category, rule.source, int(rule.enabled), int(live.enabled) if live else 0,
        live.rev if live else None, " ".join(rule.contents), rule.metadata, rule.raw,
    )  # fmt: skip


def where_clause(
    *, q: str | None = None, category: str | None = None, classtype: str | None = None,
    state: str | None = None, source: str | None = None, sids: Sequence[int] | None = None,
) -> tuple[str, list[Any]]:  # fmt: skip
    """SQL conditions (over ``JOINS``) and their parameters for a search."""
    conds: list[str] = []
    params: list[Any] = []
    text = (q or "").strip()
    if text:
        match = fts_query(text)
        fts = "r.sid IN (SELECT rowid FROM rule_fts WHERE rule_fts MATCH ?)"
        if text.isdigit():
            conds.append(f"(r.sid = ? OR {fts})")
            params += [int(text), match]
        elif match is not None:
            conds.append(fts)
            params.append(match)
    if category:
        conds.append("r.category = ?")
        params.append(category)
    if classtype:
        conds.append("r.classtype = ?")
        params.append(classtype)
    if source:
        conds.append("r.source = ?")
        params.append(source)
    if sids is not None:
        conds.append(f"r.sid IN ({','.join('?' * len(sids)) or 'NULL'})")
        params += list(sids)
    if state == "enabled":
        conds.append(f"{EFFECTIVE} = 1")
    elif state == "disabled":
        conds.append(f"{EFFECTIVE} = 0")
    elif state == "pending":
        conds.append(f"{EFFECTIVE} != r.active")
    elif state is not None and state != "":
        raise ValueError("state is one of enabled, disabled, pending")
    return ("WHERE " + " AND ".join(conds)) if conds else "", params


def now_us() -> int:
    return int(time.time() * 1_000_000)


def chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def clean_reason(text: str | None, *, required: bool) -> str:
    text = " ".join((text or "").split())
    if required and not text:
        raise RulesError("Give a reason: the next analyst will want to know why.")
    if len(text) > 500:
        raise RulesError("The reason is at most 500 characters.")
    return text


def audit_target(sids: Sequence[int]) -> str:
    return f"sid:{sids[0]}" if len(sids) == 1 else f"sids:{len(sids)}"
