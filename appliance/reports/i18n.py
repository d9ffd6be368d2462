"""The report's words in Vietnamese (default) and English."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("Báo cáo rủi ro an ninh mạng", "Network security risk report"),
    "for_day": ("Ngày", "Day"),
    "generated": ("Lập lúc", "Generated"),
    "summary": ("Tóm tắt", "Summary"),
    "network_risk": ("Điểm rủi ro của mạng", "Network risk score"),
    "trend": ("Xu hướng 7 ngày", "7-day trend"),
    "actions": ("Việc cần làm", "Recommended actions"),
    "incidents": ("Sự cố", "Incidents"),
    "opened": ("Mới mở", "Opened"),
    "resolved": ("Đã xử lý", "Resolved"),
    "still_open": ("Còn mở", "Still open"),
    "alerts": ("Cảnh báo và phát hiện", "Alerts and findings"),
    "new_assets": ("Thiết bị mới", "New assets"),
    "sensors_ok": ("Cảm biến", "Sensors"),
    "riskiest": ("Các máy rủi ro nhất", "Riskiest hosts"),
    "host": ("Máy", "Host"),
    "owner": ("Phụ trách", "Owner"),
    "score": ("Điểm", "Score"),
    "why": ("Lý do chính", "Main reasons"),
    "incident": ("Sự cố", "Incident"),
    "severity": ("Mức độ", "Severity"),
    "status": ("Trạng thái", "Status"),
    "stages": ("Giai đoạn tấn công", "Attack stages"),
    "attackers": ("Nguồn", "Source"),
    "victims": ("Đích", "Target"),
    "by_severity": ("Theo mức độ", "By severity"),
    "by_category": ("Theo nhóm", "By category"),
    "top_signatures": ("Luật phát hiện nhiều nhất", "Top signatures"),
    "per_hour": ("Theo giờ trong ngày", "Per hour of the day"),
    "ip": ("Địa chỉ IP", "IP address"),
    "name": ("Tên", "Name"),
    "vendor": ("Hãng", "Vendor"),
    "os": ("Hệ điều hành", "OS"),
    "first_seen": ("Thấy lần đầu", "First seen"),
    "sensor_health": ("Tình trạng cảm biến và thu thập", "Sensor health and capture"),
    "sensor": ("Cảm biến", "Sensor"),
    "rules": ("Bộ luật phát hiện", "Detection rules"),
    "rules_line": ("{n:,} luật đang dùng, cập nhật cách đây {age:.0f} ngày.",
                   "{n:,} rules active, updated {age:.0f} days ago."),
    "no_rules": ("Chưa có bộ luật nào được cài đặt.", "No ruleset is installed."),
    "storage": ("Dung lượng lưu trữ", "Storage"),
    "days_left": ("đủ khoảng {d:.0f} ngày", "lasts about {d:.0f} days"),
    "no_data": ("Chưa có dữ liệu cho mục này.", "No data for this section."),
    "none_today": ("Không có trong ngày.", "None on this day."),
    "quiet_title": ("Một ngày yên tĩnh", "A quiet day"),
    "quiet_text": ("Không có sự cố mới, không có cảnh báo mức cao và các cảm biến hoạt động "
                   "bình thường. Không cần hành động khẩn cấp.",
                   "No new incidents, no high-severity alerts, and the sensors worked "
                   "normally. No urgent action is needed."),  # fmt: skip
    "high": ("Cao", "High"), "medium": ("Trung bình", "Medium"), "low": ("Thấp", "Low"),
    "critical": ("Nghiêm trọng", "Critical"),
    "ok": ("Bình thường", "OK"), "warning": ("Cảnh báo", "Warning"), "down": ("Ngừng", "Down"),
    "new": ("Mới", "New"), "acknowledged": ("Đã nhận", "Acknowledged"),
    "investigating": ("Đang điều tra", "Investigating"), "false-positive": ("Báo nhầm",
                                                                             "False positive"),
    "more": ("và {n} mục khác", "and {n} more"),
    "footer": ("spanwatch — báo cáo tự động. Thời gian theo múi giờ {tz}.",
               "spanwatch — automatic report. Times in the {tz} time zone."),
    "page": ("Trang", "Page"),
    "traffic": ("Lưu lượng mạng", "Network traffic"),
    "volume": ("Tổng lưu lượng", "Volume"),
    "flows": ("luồng", "flows"),
    "peak_hour": ("Giờ cao điểm", "Busiest hour"),
    "top_apps": ("Ứng dụng", "Applications"),
    "top_talkers": ("Máy trao đổi nhiều nhất", "Top talkers"),
    "top_countries": ("Quốc gia", "Countries"),
    "new_destinations": ("Đích mới (quốc gia/AS chưa từng liên lạc)",
                         "New destinations (countries/AS never contacted before)"),
}
# "resolved" is both a count label and a status: the status reads the same.

BAND_VI = {"critical": "nghiêm trọng", "high": "cao", "medium": "trung bình", "low": "thấp"}


def translator(lang: str) -> dict[str, str]:
    """key -> text in ``lang`` (vi or en)."""
    index = 0 if lang == "vi" else 1
    return {key: pair[index] for key, pair in STRINGS.items()}
