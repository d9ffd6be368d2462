"""Brute force and password spraying: many failed logins from one source to one service.

:class:`~sensors.analyzers.attempt.AttemptReader` turns EVE records into login attempts
and outcomes (FTP/POP3 replies, Kerberos errors, SMB statuses, HTTP 401s and login
forms, short SSH/RDP sessions). They are counted per (service, client, server) in windows
of event time. When a window closes, many failures make a ``brute-force`` finding;
failures spread over many accounts, most of them rejected, a few tries each, make a
``password-spraying`` finding. A success after failures on the same connection cancels up
to two of them: NTLM over HTTP answers 401 twice before it succeeds, and people mistype.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from appliance.config import BruteForceConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.attempt import Attempt, AttemptReader
from sensors.analyzers.login import FlowMemo

logger = logging.getLogger(__name__)

#: Flow records arrive after the flow times out (60 s after a close, in the rendered
#: config), so a window waits this long past its end before it is judged.
_GRACE_US = 180 * 1_000_000
#: Open windows are checked for their end at most once per this much event time.
_SWEEP_US = 10 * 1_000_000
#: A success cancels at most this many failures of its connection (NTLM's two 401s).
_CANCEL_PER_SUCCESS = 2
_MAX_USERS = 1000
_MAX_FLOWS = 5000
_MAX_IDS = 20

_Key = tuple[str, str, str]  # service, client, server
_THRESHOLDS = {
    "min_failures",
    "min_spray_users",
    "spray_failed_share",
    "max_attempts_per_sprayed_user",
}


@dataclass(slots=True)
class _Window:
    start: int
    first_stamp: str
    last_stamp: str = ""
    port: int | None = None
    by_session: bool = False
    attempts: int = 0
    failures: int = 0
    successes: int = 0
    # user -> [attempts, failures, successes]
    users: dict[str, list[int]] = field(default_factory=dict)
    users_dropped: int = 0
    flow_failures: dict[int, int] = field(default_factory=dict)
    flow_ids: list[int] = field(default_factory=list)
    community_ids: list[str] = field(default_factory=list)

    def add(self, attempt: Attempt) -> None:
        """Count one attempt or outcome."""
        self.first_stamp = min(self.first_stamp, attempt.stamp)
        self.last_stamp = max(self.last_stamp, attempt.stamp)
        self.port = self.port or attempt.port
        self.by_session = self.by_session or attempt.by_session
        self.attempts += attempt.is_request
        counts = self._user(attempt.user)
        if counts is not None:
            counts[0] += attempt.is_request
        fid = attempt.flow_id
        if attempt.failed:
            self.failures += 1
            if counts is not None:
                counts[1] += 1
            if fid is not None and (
                fid in self.flow_failures or len(self.flow_failures) < _MAX_FLOWS
            ):
                self.flow_failures[fid] = self.flow_failures.get(fid, 0) + 1
        elif attempt.failed is False:
            self.successes += 1
            if counts is not None:
                counts[2] += 1
            if fid is not None and fid in self.flow_failures:
                cancelled = min(self.flow_failures.pop(fid), _CANCEL_PER_SUCCESS)
                self.failures -= cancelled
        if fid is not None and len(self.flow_ids) < _MAX_IDS and fid not in self.flow_ids:
            self.flow_ids.append(fid)
            if attempt.community_id:
                self.community_ids.append(attempt.community_id)

    def _user(self, user: str | None) -> list[int] | None:
        if user is None:
            return None
        counts = self.users.get(user)
        if counts is None:
            if len(self.users) >= _MAX_USERS:
                self.users_dropped += 1
                return None
            counts = self.users[user] = [0, 0, 0]
        return counts


class BruteForceAnalyzer:
    """Finds password guessing and spraying from login outcomes and short sessions."""

    name = "brute_force"
    event_types = AttemptReader.event_types

    def __init__(self, cfg: BruteForceConfig) -> None:
        self.cfg = cfg
        self._window_us = cfg.window_seconds * 1_000_000
        self._reader = AttemptReader(
            frozenset(cfg.session_ports), cfg.short_session_seconds, cfg.short_session_bytes
        )
        self._exempt = [ipaddress.ip_network(c) for c in cfg.exempt_clients]
        self._exempt_cache: FlowMemo[str, bool] = FlowMemo(10_000)
        self._windows: dict[_Key, _Window] = {}
        self._clock = {False: 0, True: 0}  # is a flow record -> latest event time seen
        self._next_sweep = 0
        self._closed: list[tuple[_Key, _Window]] = []

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Count the batch's attempts; findings of the windows that closed."""
        clock = self._clock
        read, session_ports = self._reader.read, self._reader.session_ports
        for record in records:
            # Event time: a flow record is written when its flow ends (or at the end of a
            # capture file); short sessions are judged by that clock, the rest by others'.
            head = record.head
            is_flow = head.event_type == "flow"
            if record.ts > clock[is_flow]:
                clock[is_flow] = record.ts
            if is_flow and (head.dest_port not in session_ports or head.proto != "TCP"):
                continue  # most records: no session to a login service (as read() decides)
            attempt = read(record)
            if attempt is not None and not self._is_exempt(attempt.client):
                self._count(attempt)
        now = max(clock.values())
        if now < self._next_sweep:
            return self._close(lambda w: False)
        self._next_sweep = now + _SWEEP_US
        limit = self._window_us + _GRACE_US
        return self._close(lambda w: clock[w.by_session] > w.start + limit)

    def shutdown(self) -> list[bytes]:
        """Judge every open window: the input has ended."""
        return self._close(lambda w: True)

    # --- windows and findings ------------------------------------------------------

    def _is_exempt(self, client: str) -> bool:
        if not self._exempt:
            return False
        known = self._exempt_cache.get(client)
        if known is None:
            try:
                address = ipaddress.ip_address(client)
                known = any(address in net for net in self._exempt)
            except ValueError:
                known = False
            self._exempt_cache.put(client, known)
        return known

    def _count(self, attempt: Attempt) -> None:
        key = (attempt.service, attempt.client, attempt.server)
        window = self._windows.get(key)
        if window is not None and attempt.ts >= window.start + self._window_us:
            self._closed.append((key, self._windows.pop(key)))
            window = None
        if window is None:
            if len(self._windows) >= self.cfg.max_tracked:
                oldest = next(iter(self._windows))
                self._closed.append((oldest, self._windows.pop(oldest)))
            window = self._windows[key] = _Window(start=attempt.ts, first_stamp=attempt.stamp)
        window.add(attempt)

    def _close(self, is_due: Callable[[_Window], bool]) -> list[bytes]:
        closed, self._closed = self._closed, []
        for key in [k for k, w in self._windows.items() if is_due(w)]:
            closed.append((key, self._windows.pop(key)))
        out = []
        for key, window in closed:
            finding = self._judge(key, window)
            if finding is not None:
                out.append(finding)
        return out

    def _judge(self, key: _Key, window: _Window) -> bytes | None:
        cfg = self.cfg
        failed_users = [u for u, (_, f, s) in window.users.items() if f and not s]
        spraying = (
            len(failed_users) >= cfg.min_spray_users
            and len(failed_users) >= cfg.spray_failed_share * len(window.users)
            and window.failures <= cfg.max_attempts_per_sprayed_user * len(failed_users)
        )
        if not spraying and window.failures < cfg.min_failures:
            return None
        return _finding(
            key, window, "password-spraying" if spraying else "brute-force", failed_users, cfg
        )


def _finding(
    key: _Key, window: _Window, kind: str, failed_users: list[str], cfg: BruteForceConfig
) -> bytes:
    service, client, server = key
    ranked = sorted(window.users.items(), key=lambda item: (-item[1][1], item[0]))
    succeeded = [u for u, (_, f, s) in ranked if f and s][:_MAX_IDS]
    evidence = {
        "service": service,
        "attempts": window.attempts,
        "failures": window.failures,
        "successes": window.successes,
        "failure_basis": "short-session" if window.by_session else "server-reply",
        "distinct_users": len(window.users) + window.users_dropped,
        "failed_users": len(failed_users),
        "users": [u for u, _ in ranked[:_MAX_IDS]],
        "succeeded_after_failures": succeeded,
        "first_timestamp": window.first_stamp,
        "last_timestamp": window.last_stamp,
        "window_seconds": cfg.window_seconds,
        "flow_ids": window.flow_ids,
        "community_ids": window.community_ids,
        "thresholds": cfg.model_dump(include=_THRESHOLDS),
    }
    return make_finding(
        type=kind,
        category="credential-access",
        severity=1 if succeeded else 2,
        confidence=0.7 if window.by_session else 0.9,
        timestamp=window.last_stamp,
        src_ip=client,
        dest_ip=server,
        explanation=_explain(kind, key, window, len(failed_users), succeeded, cfg),
        evidence=evidence,
        dest_port=window.port,
        app_proto=service,
    )


_TEXT = {
    "password-spraying": (
        "{client} tried {users} different accounts on {svc} at {server} within {minutes} "
        "minutes, a few times each, and {failed} were rejected. This is password spraying: a "
        "common password tried across many accounts to stay under the lockout limit.",
        "{client} đã thử {users} tài khoản khác nhau trên dịch vụ {svc} của {server} trong "
        "{minutes} phút, mỗi tài khoản vài lần, và {failed} tài khoản bị từ chối. Đây là rải "
        "mật khẩu (password spraying): một mật khẩu phổ biến được thử trên nhiều tài khoản để "
        "không bị khoá.",
    ),
    "short-session": (
        "{client} opened {failures} short {svc} sessions to {server} within {minutes} minutes. "
        "The login result is encrypted, so each short session counts as a failed guess; this "
        "looks like password guessing unless the source is a known automation or monitoring "
        "host.",
        "{client} đã mở {failures} phiên {svc} ngắn tới {server} trong {minutes} phút. Kết quả "
        "đăng nhập được mã hoá nên mỗi phiên ngắn được tính là một lần đoán sai; đây là dấu "
        "hiệu dò mật khẩu, trừ khi nguồn là máy tự động hoá hoặc giám sát đã biết.",
    ),
    "brute-force": (
        "{client} made {attempts} login attempts to {svc} on {server}{names} within {minutes} "
        "minutes and {failures} failed. This is password guessing (brute force), or a system "
        "retrying a stale password.",
        "{client} đã thử đăng nhập {svc} trên {server}{names} {attempts} lần trong {minutes} "
        "phút, {failures} lần thất bại. Đây là dò mật khẩu (brute force), hoặc một hệ thống "
        "đang dùng lại mật khẩu cũ.",
    ),
    "advice": (
        " Check the server's authentication log for this source, block it if it is not a "
        "known system, and make sure the targeted accounts have strong passwords.",
        " Hãy kiểm tra nhật ký xác thực của máy chủ đối với nguồn này, chặn nguồn nếu không "
        "phải hệ thống đã biết và bảo đảm các tài khoản bị nhắm tới có mật khẩu mạnh.",
    ),
    "succeeded": (
        " {n} account(s) then logged in from this source ({succeeded}): treat them as "
        "compromised until checked.",
        " Sau đó {n} tài khoản đã đăng nhập được từ nguồn này ({succeeded}): hãy coi như đã "
        "bị lộ cho tới khi kiểm tra xong.",
    ),
}


def _explain(
    kind: str, key: _Key, w: _Window, n_failed: int, succeeded: list[str], cfg: BruteForceConfig
) -> dict[str, str]:
    service, client, server = key
    top = sorted(w.users, key=lambda user: -w.users[user][1])[:3]
    values = {
        "client": client, "server": server, "svc": service.upper(), "users": len(w.users),
        "minutes": max(1, round(cfg.window_seconds / 60)), "failed": n_failed,
        "failures": w.failures, "attempts": w.attempts, "n": len(succeeded),
        "names": f" ({', '.join(top)})" if top else "", "succeeded": ", ".join(succeeded[:5]),
    }  # fmt: skip
    parts = ["short-session" if kind == "brute-force" and w.by_session else kind, "advice"]
    parts += ["succeeded"] if succeeded else []
    en = "".join(_TEXT[part][0].format(**values) for part in parts)
    vi = "".join(_TEXT[part][1].format(**values) for part in parts)
    return {"en": en, "vi": vi}
