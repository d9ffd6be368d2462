"""``Service.rules``: search every rule, switch rules on and off, thresholds, sources.

The web process only records the desired state here (and asks the core to apply it with
a "rules.apply" request); spanwatch-core applies it through suricata-update and
``suricata -T`` (:mod:`appliance.suricata.rule_policy`). Every change is audited.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import audit
from appliance.errors import RulesError
from appliance.service import rule_index as ix
from appliance.service import rule_sources as rs
from appliance.suricata.rule_policy import (
    RulePolicy,
    Threshold,
    ThresholdEntry,
    check_threshold,
    normalize_ip,
)
from appliance.suricata.rules import ACTIVE_NAME

if TYPE_CHECKING:
    from appliance.service import Page, Service

MAX_BULK = 30_000
#: How often (seconds) a search checks whether a rule file changed.
RECHECK_S = 5.0
CATEGORY_KINDS = ("category", "classtype")


class RuleService:
    """The rules page's data: see the module docstring."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cfg = service.cfg
        self.state = service.state
        self._checked = -RECHECK_S

    # -- index and search -------------------------------------------------------------

    def rule_files(self) -> list[ix.RuleFile]:
        """What the index reads: the active ruleset, local rules, sources with files."""
        files = [ix.RuleFile(self.cfg.rules_dir / ACTIVE_NAME, "active", active=True)]
        files += [ix.RuleFile(p, "local") for p in self.cfg.rules.local]
        for src in self.sources():
            if src.enabled and src.path:
                files.append(ix.RuleFile(Path(src.path), src.name))
        return ix.expand(files)

    def reindex(self, *, force: bool = False) -> int:
        """Rebuild the index if a rule file changed (always if ``force``); rows indexed."""
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_S:
            return -1
        self._checked = now
        files = self.rule_files()
        sig = ix.signature(files)
        if not force and self._meta("index.signature") == sig:
            return -1
        with self.state.transaction() as conn:
            count = ix.rebuild(conn, files)
            self._set_meta(conn, "index.signature", sig)
            self._set_meta(conn, "index.built", json.dumps({"rules": count, "at": ix.now_us()}))
        return count

    def search(
        self, q: str | None = None, *, category: str | None = None,
        classtype: str | None = None, state: str | None = None, source: str | None = None,
        offset: int = 0, limit: int = 50,
    ) -> Page[ix.RuleRow]:  # fmt: skip
        """Rules matching every word of ``q`` (message, SID, classtype, content...)."""
        from appliance.service import Page

        self.reindex()
        limit = max(1, min(limit, 500))
        offset = max(0, offset)
        text = (q or "").strip()
        match = ix.fts_query(text)
        if match and not text.isdigit() and not (category or classtype or state or source):
            return self._text_search(match, offset, limit)
        where, params = ix.where_clause(
            q=q, category=category, classtype=classtype, state=state, source=source
        )
        rows = self.state.query(
            f"{ix.SELECT_ROWS} {ix.JOINS} {where} ORDER BY r.sid LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        joins = ix.JOINS if state else "FROM rule_index r "  # the joins only matter for state
        total = self.state.query(f"SELECT count(*) {joins} {where}", tuple(params))[0][0]
        return Page([ix.row_of(r) for r in rows], total, offset, limit)

    def _text_search(self, match: str, offset: int, limit: int) -> Page[ix.RuleRow]:
        """Words only: the full-text index alone counts and pages (a few ms at 25,000)."""
        from appliance.service import Page

        total = self.state.query("SELECT count(*) FROM rule_fts WHERE rule_fts MATCH ?",
                                 (match,))[0][0]  # fmt: skip
        rows = self.state.query(
            f"{ix.SELECT_ROWS} FROM (SELECT rowid AS id FROM rule_fts WHERE rule_fts MATCH ? "
            f"ORDER BY rowid LIMIT ? OFFSET ?) f JOIN rule_index r ON r.sid = f.id "
            f"{ix.POLICY_JOINS} ORDER BY r.sid",
            (match, limit, offset),
        )
        return Page([ix.row_of(r) for r in rows], int(total), offset, limit)

    def get(self, sid: int) -> dict[str, Any] | None:
        """One rule: its row, full text, and its thresholds and suppressions."""
        self.reindex()
        rows = self.state.query(
            f"{ix.SELECT_ROWS}, r.raw, r.metadata, ps.reason AS reason, ps.actor AS actor, "
            f"ps.updated_at AS updated_at {ix.JOINS} WHERE r.sid = ?",
            (sid,),
        )
        if not rows:
            return None
        row = rows[0]
        return {
            "rule": ix.row_of(row), "raw": row["raw"], "metadata": row["metadata"],
            "reason": row["reason"], "changed_by": row["actor"], "changed_at": row["updated_at"],
            "thresholds": [t for t in self.thresholds(active_only=False) if t.threshold.sid == sid],
        }  # fmt: skip

    def facets(self, kind: str) -> builtins.list[dict[str, Any]]:
        """Per category (or classtype): rules, enabled, and the page's override."""
        if kind not in CATEGORY_KINDS:
            raise ValueError("kind is category or classtype")
        self.reindex()
        col = "r.category" if kind == "category" else "r.classtype"
        rows = self.state.query(
            f"SELECT {col} AS name, count(*) AS total, sum({ix.EFFECTIVE}) AS enabled "
            f"{ix.JOINS} GROUP BY {col} ORDER BY {col}"
        )
        overrides = {
            r["key"]: bool(r["enabled"])
            for r in self.state.query(
                "SELECT key, enabled FROM rule_policy WHERE kind = ?", (kind,)
            )
        }
        return [
            {"name": r["name"], "total": r["total"], "enabled": r["enabled"] or 0,
             "override": overrides.get(r["name"])}
            for r in rows
        ]  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Rules known, enabled after apply, running now, and waiting to be applied."""
        self.reindex()
        row = self.state.query(
            f"SELECT count(*) AS total, sum({ix.EFFECTIVE}) AS enabled, sum(r.active) AS active,"
            f" sum({ix.EFFECTIVE} != r.active) AS pending {ix.JOINS}"
        )[0]
        out = {k: int(row[k] or 0) for k in ("total", "enabled", "active", "pending")}
        out["thresholds_pending"] = int(self._threshold_text() != self._installed_thresholds())
        return out

    def _threshold_text(self) -> str:
        return RulePolicy(thresholds=tuple(e.threshold for e in self.thresholds())).threshold_text()

    def _installed_thresholds(self) -> str:
        """The installed threshold.config (none installed reads as an empty one)."""
        path = self.cfg.rules_dir / "threshold.config"
        return path.read_text(encoding="utf-8") if path.exists() else RulePolicy().threshold_text()

    # -- enable and disable -----------------------------------------------------------

    def set_enabled(
        self, sids: Sequence[int], enabled: bool | None, *, actor: str, reason: str = ""
    ) -> int:
        """Switch rules by SID (None: back to what their file says); returns how many."""
        self.reindex()
        wanted = sorted({int(s) for s in sids})
        if not wanted:
            raise RulesError("No rule selected.")
        if len(wanted) > MAX_BULK:
            raise RulesError(f"At most {MAX_BULK} rules at once; narrow the search.")
        known = {
            r[0]
            for chunk in ix.chunks(wanted, 500)
            for r in self.state.query(
                f"SELECT sid FROM rule_index WHERE sid IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
        }
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise RulesError(f"Unknown SID(s): {', '.join(map(str, unknown[:10]))}.")
        reason = ix.clean_reason(reason, required=False)
        now = ix.now_us()
        with self.state.transaction() as conn:
            for sid in wanted:
                self._put_policy(conn, "sid", str(sid), enabled, reason, actor, now)
        verb = "reset" if enabled is None else ("enable" if enabled else "disable")
        audit.record(self.state, actor, f"rules.{verb}", ix.audit_target(wanted),
                     {"sids": wanted[:200], "count": len(wanted), "reason": reason})  # fmt: skip
        return len(wanted)

    def set_group(
        self, kind: str, name: str, enabled: bool | None, *, actor: str, reason: str = ""
    ) -> int:
        """Switch a whole category (ET file) or classtype; returns its rule count."""
        if kind not in CATEGORY_KINDS:
            raise RulesError("Choose a category or a classtype.")
        col = "category" if kind == "category" else "classtype"
        self.reindex()
        total = self.state.query(f"SELECT count(*) FROM rule_index WHERE {col} = ?", (name,))[0][0]
        if not total:
            raise RulesError(f"No rule has {kind} {name!r}.")
        reason = ix.clean_reason(reason, required=False)
        with self.state.transaction() as conn:
            self._put_policy(conn, kind, name, enabled, reason, actor, ix.now_us())
        verb = "reset" if enabled is None else ("enable" if enabled else "disable")
        audit.record(self.state, actor, f"rules.{verb}", f"{kind}:{name}",
                     {"rules": total, "reason": reason})  # fmt: skip
        return int(total)

    def set_enabled_by_search(
        self, q: str | None, enabled: bool, *, actor: str, reason: str = "", **filters: Any
    ) -> int:
        """Switch every rule a search finds (SID overrides); returns how many."""
        if not (q or "").strip() and not any(filters.values()):
            raise RulesError("Search for something first: switching every rule is not allowed.")
        self.reindex()
        where, params = ix.where_clause(q=q, **filters)
        sids = [r[0] for r in self.state.query(f"SELECT r.sid {ix.JOINS} {where}", tuple(params))]
        if not sids:
            raise RulesError("The search finds no rule.")
        return self.set_enabled(sids, enabled, actor=actor, reason=reason)

    def _put_policy(self, conn: Any, kind: str, key: str, enabled: bool | None, reason: str,
                    actor: str, now: int) -> None:  # fmt: skip
        if enabled is None:
            conn.execute("DELETE FROM rule_policy WHERE kind = ? AND key = ?", (kind, key))
            return
        conn.execute(
            "INSERT INTO rule_policy (kind, key, enabled, reason, actor, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET "
            "enabled = excluded.enabled, reason = excluded.reason, actor = excluded.actor, "
            "updated_at = excluded.updated_at",
            (kind, key, int(enabled), reason, actor, now),
        )

    # -- thresholds and suppressions --------------------------------------------------

    def add_threshold(
        self, kind: str, sid: int, *, actor: str, reason: str, expires_at: int | None = None,
        type: str | None = None, track: str | None = None, count: int | None = None,
        seconds: int | None = None, ip: str | None = None, gid: int = 1,
    ) -> int:  # fmt: skip
        """Add a threshold or a suppression (reason required, expiry optional)."""
        try:
            try:
                ip_text = normalize_ip(ip) if ip else None
            except ValueError:
                raise ValueError(f"{ip!r} is not an IP address or network") from None
            t = Threshold(kind, int(sid), gid, type or None, track or None, count, seconds, ip_text)
            check_threshold(t)
        except ValueError as err:
            raise RulesError(f"Invalid {kind}: {err}.") from err
        reason = ix.clean_reason(reason, required=True)
        now = ix.now_us()
        if expires_at is not None and expires_at <= now:
            raise RulesError("The expiry must be in the future.")
        with self.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO rule_thresholds (kind, gid, sid, type, track, count, seconds, ip, "
                "reason, expires_at, created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (t.kind, t.gid, t.sid, t.type, t.track, t.count, t.seconds, t.ip, reason,
                 expires_at, actor, now),
            )  # fmt: skip
            new_id = int(cur.lastrowid or 0)
        detail = {"id": new_id, "line": t.line(), "reason": reason, "expires_at": expires_at}
        audit.record(self.state, actor, f"rules.{kind}", f"sid:{t.sid}", detail)
        return new_id

    def thresholds(self, *, active_only: bool = True) -> builtins.list[ThresholdEntry]:
        """Thresholds and suppressions, newest first (without the expired if active_only)."""
        rows = self.state.query("SELECT * FROM rule_thresholds ORDER BY id DESC")
        now = ix.now_us()
        out = [
            ThresholdEntry(
                r["id"],
                Threshold(
                    r["kind"],
                    r["sid"],
                    r["gid"],
                    r["type"],
                    r["track"],
                    r["count"],
                    r["seconds"],
                    r["ip"],
                ),
                r["reason"],
                r["expires_at"],
                r["created_by"],
                r["created_at"],
            )  # fmt: skip
            for r in rows
        ]
        return [e for e in out if not (active_only and e.expired(now))]

    def remove_threshold(self, entry_id: int, *, actor: str) -> None:
        with self.state.transaction() as conn:
            row = conn.execute("SELECT * FROM rule_thresholds WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                raise RulesError(f"No threshold or suppression #{entry_id}.")
            conn.execute("DELETE FROM rule_thresholds WHERE id = ?", (entry_id,))
        audit.record(self.state, actor, "rules.unthreshold", f"sid:{row['sid']}",
                     {"id": entry_id, "kind": row["kind"]})  # fmt: skip

    # -- sources ----------------------------------------------------------------------

    def sources(self) -> builtins.list[rs.SourceView]:
        return rs.list_sources(self.state, list(self.cfg.rules.sources))

    def set_source_enabled(self, name: str, enabled: bool, *, actor: str) -> None:
        found = next((s for s in self.sources() if s.name == name), None)
        if found is None:
            raise RulesError(f"No rule source named {name!r}.")
        with self.state.transaction() as conn:
            rs.upsert_source(conn, name, url=found.url, path=found.path, enabled=enabled,
                             origin=found.origin, detail=found.detail, actor=actor,
                             now=ix.now_us())  # fmt: skip
        self._checked = -RECHECK_S  # re-read the rule files on the next search
        audit.record(self.state, actor, "rules.source_" + ("enable" if enabled else "disable"),
                     f"source:{name}")  # fmt: skip

    def add_url_source(self, name: str, url: str, *, actor: str) -> rs.SourceView:
        name, url = rs.check_name(name), rs.check_url(url)
        if any(s.name == name for s in self.sources()):
            raise RulesError(f"A rule source named {name!r} exists already.")
        with self.state.transaction() as conn:
            rs.upsert_source(conn, name, url=url, path=None, enabled=True, origin="url",
                             detail="", actor=actor, now=ix.now_us())  # fmt: skip
        self._checked = -RECHECK_S  # re-read the rule files on the next search
        audit.record(self.state, actor, "rules.source_add", f"source:{name}", {"url": url})
        return next(s for s in self.sources() if s.name == name)

    def upload_bundle(self, name: str, filename: str, data: bytes, *, actor: str) -> rs.SourceView:
        """Validate and keep an offline bundle as a source (replacing one of that name)."""
        name = rs.check_name(name)
        existing = next((s for s in self.sources() if s.name == name), None)
        if existing is not None and existing.origin != "upload":
            raise RulesError(f"{name!r} is a {existing.origin} source; choose another name.")
        folder, count = rs.save_upload(self.cfg.rules_dir, name, filename, data)
        detail = f"{filename}: {count} enabled rules"
        with self.state.transaction() as conn:
            rs.upsert_source(conn, name, url=None, path=str(folder), enabled=True,
                             origin="upload", detail=detail, actor=actor,
                             now=ix.now_us())  # fmt: skip
        self._checked = -RECHECK_S
        audit.record(self.state, actor, "rules.upload", f"source:{name}",
                     {"file": filename, "bytes": len(data), "rules": count})  # fmt: skip
        return next(s for s in self.sources() if s.name == name)

    def remove_source(self, name: str, *, actor: str) -> None:
        found = next((s for s in self.sources() if s.name == name), None)
        if found is None or found.origin == "config":
            raise RulesError("Only added sources can be removed; configured ones can be disabled.")
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM rule_sources WHERE name = ?", (name,))
        self._checked = -RECHECK_S  # re-read the rule files on the next search
        audit.record(self.state, actor, "rules.source_remove", f"source:{name}")

    # -- apply ------------------------------------------------------------------------

    def policy(self) -> RulePolicy:
        """What the core applies: SIDs whose state differs from their file, thresholds."""
        self.reindex()
        rows = self.state.query(
            f"SELECT r.sid, {ix.EFFECTIVE} AS enabled, r.enabled_default {ix.JOINS} "
            f"WHERE {ix.EFFECTIVE} != r.enabled_default"
        )
        enable = tuple(r["sid"] for r in rows if r["enabled"])
        disable = tuple(r["sid"] for r in rows if not r["enabled"])
        thresholds = tuple(e.threshold for e in self.thresholds(active_only=True))
        sources = tuple(s.as_source() for s in self.sources())
        return RulePolicy(enable, disable, thresholds, sources)

    def preview(self) -> ix.RuleDiff:
        """Added, removed and changed SIDs if the policy were applied now."""
        self.reindex()
        base = f"{ix.SELECT_ROWS} {ix.JOINS} WHERE "
        added = self.state.query(base + f"{ix.EFFECTIVE} = 1 AND r.active = 0 ORDER BY r.sid")
        removed = self.state.query(base + f"{ix.EFFECTIVE} = 0 AND r.active = 1 ORDER BY r.sid")
        changed = self.state.query(
            base + f"{ix.EFFECTIVE} = 1 AND r.active = 1 AND r.active_rev != r.rev ORDER BY r.sid"
        )
        text, old = self._threshold_text(), self._installed_thresholds()
        return ix.RuleDiff(
            [ix.row_of(r) for r in added], [ix.row_of(r) for r in removed],
            [ix.row_of(r) for r in changed], thresholds_changed=old != text,
        )  # fmt: skip

    def request_apply(self, *, actor: str) -> int:
        """Ask spanwatch-core to apply the policy (the web never runs Suricata)."""
        req = self.service.requests.submit("rules.apply", {}, actor=actor)
        audit.record(self.state, actor, "rules.apply", f"request:{req}")
        return req

    def record_apply(self, *, ok: bool, message: str, policy: RulePolicy | None = None) -> None:
        """The core records each apply's outcome for the rules page."""
        value = json.dumps({"ok": ok, "message": message[:2000], "at": ix.now_us()})
        with self.state.transaction() as conn:
            self._set_meta(conn, "apply.last", value)

    def request_preview(self, *, actor: str) -> int:
        """Ask the core what an update would change, downloads included ("rules.preview")."""
        req = self.service.requests.submit("rules.preview", {}, actor=actor)
        audit.record(self.state, actor, "rules.preview", f"request:{req}")
        return req

    def record_preview(self, result: dict[str, Any]) -> None:
        """The core records what an update would change (added/removed/changed SIDs)."""
        value = json.dumps({**result, "at": ix.now_us()})
        with self.state.transaction() as conn:
            self._set_meta(conn, "preview.last", value)

    def last_preview(self) -> dict[str, Any] | None:
        text = self._meta("preview.last")
        return json.loads(text) if text else None

    def last_apply(self) -> dict[str, Any] | None:
        text = self._meta("apply.last")
        return json.loads(text) if text else None

    # -- helpers ----------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        rows = self.state.query("SELECT value FROM rule_meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def _set_meta(self, conn: Any, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO rule_meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, int(time.time() * 1e6)),
        )
