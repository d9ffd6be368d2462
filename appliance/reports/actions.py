"""Three to five recommended actions, derived from the day's data, in both languages."""

from __future__ import annotations

from appliance.reports.data import ReportData

Action = tuple[str, str]  # (vi, en)
NOISY_SIGNATURE = 1000
MAX_RULE_AGE_DAYS = 7
LOW_DAYS_LEFT = 14


def recommend(data: ReportData, limit: int = 5) -> list[Action]:
    """The most useful next steps first; at least three on a day with anything to do."""
    out: list[Action] = []
    urgent = [i for i in data.incidents if i.severity in ("critical", "high")
              and i.status in ("new", "acknowledged", "investigating")]  # fmt: skip
    open_high = data.open_by_severity.get("critical", 0) + data.open_by_severity.get("high", 0)
    if urgent or open_high:
        first = urgent[0] if urgent else None
        lead_vi = f", bắt đầu với #{first.id} «{first.title_vi}»" if first else ""
        lead_en = f", starting with #{first.id} “{first.title_en}”" if first else ""
        n = max(open_high, len(urgent))
        out.append((f"Điều tra {n} sự cố mức cao/nghiêm trọng đang mở{lead_vi}.",
                    f"Investigate the {n} open high/critical incident(s){lead_en}."))  # fmt: skip
    for host in (data.top_hosts or [])[:2]:
        if host.score >= 50:
            why_vi = host.reasons_vi[0] if host.reasons_vi else ""
            why_en = host.reasons_en[0] if host.reasons_en else ""
            out.append((f"Kiểm tra máy {host.ip} (điểm rủi ro {host.score}): {why_vi}",
                        f"Review host {host.ip} (risk {host.score}): {why_en}"))  # fmt: skip
    for sensor in data.sensors:
        if sensor.status != "ok":
            out.append((f"Khắc phục cảm biến {sensor.name}: {sensor.detail_vi}",
                        f"Fix sensor {sensor.name}: {sensor.detail_en}"))  # fmt: skip
    if data.rules_count is None or (data.rules_age_days or 0) > MAX_RULE_AGE_DAYS:
        out.append(("Cập nhật bộ luật phát hiện (spanwatch rules update hoặc trang Luật).",
                    "Update the detection rules (spanwatch rules update or the Rules page)."))
    for label, count, _sev in data.signatures[:1]:
        if count >= NOISY_SIGNATURE:
            out.append((f"Xem lại luật gây nhiều cảnh báo «{label}» ({count:,} lần): nếu là "
                        "lưu lượng hợp lệ, đặt ngưỡng hoặc loại trừ.",
                        f"Review the noisy signature “{label}” ({count:,} alerts): threshold "
                        "or suppress it if the traffic is legitimate."))  # fmt: skip
    unowned = [a for a in (data.new_assets or [])]
    if unowned:
        out.append((f"Xác nhận {len(unowned)} thiết bị mới xuất hiện và gán người phụ trách.",
                    f"Confirm the {len(unowned)} new device(s) seen and assign an owner."))
    for kind, days in data.days_left.items():
        if days is not None and days < LOW_DAYS_LEFT:
            out.append((f"Dung lượng lưu trữ ({kind}) chỉ đủ khoảng {days:.0f} ngày: mở rộng "
                        "đĩa hoặc rút ngắn thời gian lưu.",
                        f"Storage for {kind} lasts about {days:.0f} days: add disk or shorten "
                        "retention."))  # fmt: skip
    if len(out) < 3 and data.quiet:
        out.append(("Không cần hành động khẩn cấp; tiếp tục theo dõi báo cáo hằng ngày.",
                    "No urgent action; keep reading the daily report."))
    return out[:limit]
