"""A busy day and a quiet day of report content, for rendering tests."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from appliance.reports.data import AssetRow, HostRow, IncidentRow, ReportData, SensorRow

DAY = dt.date(2026, 11, 23)
START = int(dt.datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp() * 1e6)
HOUR = 3600 * 1_000_000


def busy_day() -> ReportData:
    data = ReportData(DAY, "Asia/Ho_Chi_Minh", START, START + 24 * HOUR, int(time.time() * 1e6),
                      organisation="Trung tâm dữ liệu tỉnh — Sở TT&TT")  # fmt: skip
    data.network_score = 62
    data.trend = [(DAY - dt.timedelta(days=6 - i), s)
                  for i, s in enumerate([18, 22, 21, 35, 41, None, 62])]  # fmt: skip
    data.top_hosts = [
        HostRow("10.10.1.20", "web-portal.tinh.gov.vn", "Phòng CNTT", "high", 81,
                ["Open critical incident #12: SSH brute force then C2 beaconing (40 points)",
                 "Cleartext credentials seen (15 points)"],
                ["Sự cố nghiêm trọng đang mở #12: dò mật khẩu SSH rồi kết nối C2 (40 điểm)",
                 "Phát hiện mật khẩu truyền không mã hóa (15 điểm)"]),
        HostRow("10.10.2.31", "ws-0118", None, "normal", 55,
                ["DNS tunnel finding (30 points)"], ["Phát hiện đường hầm DNS (30 điểm)"]),
        HostRow("10.10.1.30", "files.gov.example", "Văn phòng", "normal", 24,
                ["SMB reached from outside HOME_NET (6 points)"],
                ["SMB được truy cập từ ngoài HOME_NET (6 điểm)"]),
    ]  # fmt: skip
    data.incident_summary = {"opened": 4, "resolved": 2, "open": 5}
    data.open_by_severity = {"critical": 1, "high": 2, "medium": 2}
    data.incidents = [
        IncidentRow(12, "SSH brute force, then command-and-control beaconing",
                    "Dò mật khẩu SSH, sau đó kết nối điều khiển (C2) định kỳ", "critical", "new",
                    ["reconnaissance", "credential-access", "command-and-control"],
                    ["203.0.113.7"], ["10.10.1.20"], START + 2 * HOUR),
        IncidentRow(13, "DNS tunnel to a rare domain", "Đường hầm DNS tới tên miền lạ", "high",
                    "investigating", ["exfiltration"], ["10.10.2.31"], ["198.51.100.53"],
                    START + 9 * HOUR),
        IncidentRow(14, "<script>alert(1)</script> in a host name",
                    "<script>alert(1)</script> trong tên máy", "medium", "new",
                    ["reconnaissance"], ["203.0.113.9"], ["10.10.1.30"], START + 15 * HOUR),
    ]  # fmt: skip
    data.severity_counts = {1: 37, 2: 1480, 3: 5210}
    data.categories = [("Attempted Information Leak", 2900), ("Potentially Bad Traffic", 1800),
                       ("reconnaissance", 1200), ("credential-access", 420),
                       ("command-and-control", 180), ("sensor-health", 2)]  # fmt: skip
    data.signatures = [("ET SCAN Suspicious inbound to MSSQL port 1433", 2310, 2),
                       ("ET POLICY SSH session in progress on Unusual Port", 1200, 3),
                       ("ET MALWARE Possible Cobalt Strike beacon", 37, 1)]  # fmt: skip
    data.hourly = [30, 22, 18, 15, 12, 20, 80, 240, 410, 520, 480, 600, 350, 500, 620, 580,
                   530, 400, 260, 180, 120, 90, 60, 40]  # fmt: skip
    data.new_assets = [AssetRow("10.10.3.77", "printer-3", "HP Inc.", "embedded", START + HOUR),
                       AssetRow("10.10.2.140", None, "Raspberry Pi", "Linux", START + 5 * HOUR)]
    data.sensors = [SensorRow("span-core", "ok", "Capturing normally.",
                              "Đang thu thập bình thường."),
                    SensorRow("span-dmz", "warning",
                              "Sensor span-dmz dropped 3.2% of packets (limit 1.0%).",
                              "Cảm biến span-dmz bỏ sót 3.2% gói tin (ngưỡng 1.0%).")]  # fmt: skip
    data.rules_count, data.rules_age_days = 15003, 9.0
    data.days_left = {"alerts": 210.0, "metadata": 11.0, "pcap": 40.0}
    return data


def quiet_day() -> ReportData:
    data = ReportData(DAY, "Asia/Ho_Chi_Minh", START, START + 24 * HOUR, int(time.time() * 1e6))
    data.network_score = 8
    data.trend = [(DAY - dt.timedelta(days=6 - i), 8) for i in range(7)]
    data.top_hosts = []
    data.incident_summary = {"opened": 0, "resolved": 0, "open": 0}
    data.severity_counts = {3: 12}
    data.new_assets = []
    data.sensors = [SensorRow("span-core", "ok", "Capturing normally.",
                              "Đang thu thập bình thường.")]  # fmt: skip
    data.rules_count, data.rules_age_days = 15003, 0.5
    return data
