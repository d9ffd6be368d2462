"""Lateral movement and credential theft over SMB and DCE/RPC.

Remote execution on Windows goes through a handful of RPC interfaces, whatever the tool:
the service control manager (PsExec, smbexec, Metasploit's psexec), the task scheduler,
DCOM activation (WMI, MMC20, ShellWindows), and for credential theft directory
replication (DCSync), the print spooler and EFS (authentication coercion) and Netlogon
(Zerologon). Suricata's ``smb`` and ``dcerpc`` records name the interfaces a client binds
(by UUID, from the protocols' published specifications) and the operation numbers it
calls; this analyzer keeps the bound interfaces per flow and reports the calls that
create services or tasks, activate objects remotely, replicate the directory or coerce
authentication. SMB tree connects to administrative shares (C$, ADMIN$) and executables
written there are reported too, the former at low severity.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.config import LateralMovementConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet
from sensors.analyzers.repeat import RepeatGate

_SECOND = 1_000_000


@dataclass(frozen=True)
class _Technique:
    type: str
    category: str
    severity: int
    confidence: float
    en: str
    vi: str


_SERVICE = _Technique(
    "remote-service-creation", "lateral-movement", 1, 0.85,
    "created or started a service on {server} through the service control manager "
    "(remote execution as PsExec, smbexec or Metasploit do)",
    "đã tạo hoặc khởi chạy dịch vụ trên {server} qua trình quản lý dịch vụ từ xa "
    "(thực thi lệnh từ xa như PsExec, smbexec, Metasploit)")  # fmt: skip
_TASK = _Technique(
    "remote-scheduled-task", "lateral-movement", 1, 0.85,
    "registered a scheduled task on {server} remotely (remote execution)",
    "đã đăng ký tác vụ theo lịch trên {server} từ xa (thực thi lệnh từ xa)")
_DCOM = _Technique(
    "remote-dcom-activation", "lateral-movement", 2, 0.7,
    "activated a DCOM object on {server} remotely (WMI, MMC20 and similar remote execution)",
    "đã kích hoạt đối tượng DCOM trên {server} từ xa (thực thi từ xa qua WMI, MMC20...)")
_WMI = _Technique(
    "remote-wmi", "lateral-movement", 2, 0.8,
    "logged in to WMI on {server} remotely (remote command execution)",
    "đã đăng nhập WMI trên {server} từ xa (thực thi lệnh từ xa)")
_DCSYNC = _Technique(
    "directory-replication", "credential-access", 1, 0.85,
    "asked {server} to replicate directory data (DCSync: password hashes of every account) "
    "without being a listed domain controller",
    "đã yêu cầu {server} sao chép dữ liệu thư mục (DCSync: lấy băm mật khẩu mọi tài khoản) "
    "dù không phải bộ điều khiển miền đã khai báo")  # fmt: skip
_COERCE = _Technique(
    "authentication-coercion", "credential-access", 1, 0.8,
    "called {server}'s print spooler or EFS service to make it authenticate to another "
    "host (PrinterBug, PetitPotam: NTLM relay)",
    "đã gọi dịch vụ in hoặc EFS của {server} để buộc máy này xác thực tới máy khác "
    "(PrinterBug, PetitPotam: chuyển tiếp NTLM)")  # fmt: skip
_NETLOGON = _Technique(
    "netlogon-auth-burst", "credential-access", 1, 0.75,
    "sent a burst of Netlogon authentications to {server} (Zerologon, CVE-2020-1472)",
    "đã gửi dồn dập yêu cầu xác thực Netlogon tới {server} (Zerologon, CVE-2020-1472)")
_UPLOAD = _Technique(
    "remote-executable-upload", "lateral-movement", 2, 0.75,
    "wrote an executable to an administrative share of {server}",
    "đã ghi tệp thực thi vào thư mục chia sẻ quản trị của {server}")
_ADMIN_SHARE = _Technique(
    "admin-share-access", "lateral-movement", 3, 0.5,
    "connected to an administrative share of {server}",
    "đã kết nối tới thư mục chia sẻ quản trị của {server}")

#: Interface UUIDs (from the Microsoft protocol specifications) -> short names.
_INTERFACES = {
    "367abb81-9844-35f1-ad32-98f038001003": "svcctl",  # MS-SCMR
    "1ff70682-0a51-30e8-076d-740be8cee98b": "atsvc",  # MS-TSCH ATSvc
    "86d35949-83c9-4044-b424-db363231fd0c": "itaskscheduler",  # MS-TSCH
    "000001a0-0000-0000-c000-000000000046": "isystemactivator",  # MS-DCOM
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "iactivation",  # MS-DCOM
    "f309ad18-d86a-11d0-a075-00c04fb68820": "iwbemlevel1login",  # MS-WMI
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",  # MS-DRSR
    "12345678-1234-abcd-ef00-0123456789ab": "spoolss",  # MS-RPRN
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "efsrpc",  # MS-EFSR (lsarpc pipe)
    "df1941c5-fe89-4e79-bf10-463657acf44d": "efsrpc",  # MS-EFSR (efsrpc pipe)
    "12345678-1234-abcd-ef00-01234567cffb": "netlogon",  # MS-NRPC
}
#: (interface, operation numbers) -> technique; None: any call once bound.
_CALLS: dict[str, tuple[frozenset[int] | None, _Technique]] = {
    "svcctl": (frozenset({12, 19, 24, 31, 44, 45}), _SERVICE),  # Create/StartService
    "atsvc": (frozenset({0}), _TASK),  # NetrJobAdd
    "itaskscheduler": (frozenset({1}), _TASK),  # SchRpcRegisterTask
    "isystemactivator": (None, _DCOM),
    "iactivation": (None, _DCOM),
    "iwbemlevel1login": (None, _WMI),
    "drsuapi": (frozenset({3}), _DCSYNC),  # DRSGetNCChanges
    "spoolss": (frozenset({62, 65}), _COERCE),  # RpcRemoteFindFirstPrinterChangeNotification
    "efsrpc": (frozenset({0, 4, 5, 6, 7, 12, 13, 15}), _COERCE),
    "netlogon": (frozenset({5, 15, 26}), _NETLOGON),  # NetrServerAuthenticate, 2, 3
}
#: Named pipes that identify an interface when the bind is not seen.
_PIPES = {"svcctl": "svcctl", "atsvc": "atsvc", "spoolss": "spoolss", "efsrpc": "efsrpc",
          "netlogon": "netlogon", "drsuapi": "drsuapi"}  # fmt: skip
_ADMIN_SHARE_RE = re.compile(r"[\\/](?:admin\$|[a-z]\$)$", re.IGNORECASE)
_EXECUTABLE_RE = re.compile(r"\.(?:exe|dll|sys|scr|bat|cmd|ps1|vbs|js|hta|msi)$", re.I)


@dataclass
class _Flow:
    interfaces: set[str]
    admin_share: str | None = None


class LateralMovementAnalyzer:
    """Finds remote execution and credential theft in SMB and DCE/RPC records."""

    name = "lateral_movement"
    event_types = frozenset({"smb", "dcerpc"})

    def __init__(self, cfg: LateralMovementConfig) -> None:
        self.cfg = cfg
        self._dcs = AddressSet(cfg.domain_controllers)
        self._admins = AddressSet(cfg.admin_clients)
        self._flows: OrderedDict[int, _Flow] = OrderedDict()
        # Netlogon authentication times per (client, server): exploits retry on one
        # connection (mimikatz) or open one per try (the published Python checkers).
        self._netlogon: OrderedDict[tuple[str, str], list[int]] = OrderedDict()
        self._reported = RepeatGate(cfg.window_seconds * _SECOND, cfg.max_tracked)

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Every finding is reported as its batch is seen."""
        return []

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for the techniques seen in this batch."""
        out: list[bytes] = []
        for record in records:
            head = record.head
            client, server = head.src_ip, head.dest_ip
            if not client or not server or (self._admins and client in self._admins):
                continue
            body = record.data.get(head.event_type)
            if not isinstance(body, dict):
                continue
            flow = self._flow(head.flow_id or 0)
            for technique, detail in self._observe(record, body, flow):
                if technique is _DCSYNC and self._dcs and client in self._dcs:
                    continue
                if self._reported.due((client, server, technique.type), record.ts):
                    out.append(self._finding(record, technique, detail))
        return out

    def _flow(self, flow_id: int) -> _Flow:
        flow = self._flows.get(flow_id)
        if flow is None:
            flow = self._flows[flow_id] = _Flow(set())
            while len(self._flows) > self.cfg.max_tracked:
                self._flows.popitem(last=False)
        return flow

    def _observe(
        self, record: EveRecord, body: dict[str, Any], flow: _Flow
    ) -> list[tuple[_Technique, dict[str, Any]]]:
        found: list[tuple[_Technique, dict[str, Any]]] = []
        if record.head.event_type == "smb":
            found += self._smb(body, flow)
            rpc = body.get("dcerpc")
            opnum = rpc.get("opnum") if isinstance(rpc, dict) else None
        else:
            rpc = body
            req = body.get("req")
            opnum = req.get("opnum") if isinstance(req, dict) else None
        if not isinstance(rpc, dict):
            return found
        for iface in rpc.get("interfaces") or []:
            if isinstance(iface, dict) and iface.get("ack_result", 0) == 0:
                name = _INTERFACES.get(str(iface.get("uuid", "")).lower())
                if name:
                    flow.interfaces.add(name)
        if rpc.get("request") == "REQUEST" and isinstance(opnum, int):
            for name in sorted(flow.interfaces):
                opnums, technique = _CALLS[name]
                if opnums is not None and opnum not in opnums:
                    continue
                if technique is _NETLOGON and not self._burst(record):
                    continue
                found.append((technique, {"interface": name, "opnum": opnum}))
        elif rpc.get("request") == "BIND":
            for name in sorted(flow.interfaces):
                opnums, technique = _CALLS[name]
                if opnums is None:
                    found.append((technique, {"interface": name}))
        return found

    def _smb(self, body: dict[str, Any], flow: _Flow) -> list[tuple[_Technique, dict[str, Any]]]:
        found: list[tuple[_Technique, dict[str, Any]]] = []
        share = str(body.get("share") or "")
        command = str(body.get("command") or "")
        if share and _ADMIN_SHARE_RE.search(share) and "TREE_CONNECT" in command:
            if str(body.get("status") or "STATUS_SUCCESS") == "STATUS_SUCCESS":
                flow.admin_share = share
                if self.cfg.admin_shares:
                    found.append((_ADMIN_SHARE, {"share": share}))
        name = str(body.get("filename") or "").replace("\\", "/").rsplit("/", 1)[-1]
        pipe = _PIPES.get(name.lower())
        if pipe:
            flow.interfaces.add(pipe)
        if (flow.admin_share and _EXECUTABLE_RE.search(name)
                and ("WRITE" in command or "CREATE" in command)):  # fmt: skip
            found.append((_UPLOAD, {"share": flow.admin_share, "file": name[:256]}))
        return found

    def _burst(self, record: EveRecord) -> bool:
        key = (record.head.src_ip or "", record.head.dest_ip or "")
        ts = record.ts
        times = [t for t in self._netlogon.pop(key, ()) if ts - t < 60 * _SECOND] + [ts]
        self._netlogon[key] = times
        while len(self._netlogon) > self.cfg.max_tracked:
            self._netlogon.popitem(last=False)
        return len(times) >= self.cfg.netlogon_burst

    def _finding(self, record: EveRecord, technique: _Technique, detail: dict[str, Any]) -> bytes:
        head = record.head
        client, server = head.src_ip or "", head.dest_ip or ""
        return make_finding(
            type=technique.type, category=technique.category, severity=technique.severity,
            confidence=technique.confidence, timestamp=head.timestamp, src_ip=client,
            dest_ip=server,
            explanation={"en": f"{client} {technique.en.format(server=server)}.",
                         "vi": f"{client} {technique.vi.format(server=server)}."},
            evidence={**detail, "protocol": head.event_type, "flow_id": head.flow_id,
                      "community_id": head.community_id, "timestamp": head.timestamp,
                      "server_port": head.dest_port,
                      "window_seconds": self.cfg.window_seconds},
            dest_port=head.dest_port, app_proto=head.event_type, flow_id=head.flow_id,
            community_id=head.community_id,
        )  # fmt: skip
