"""The daily report as HTML (Jinja2, autoescaped) and as PDF (WeasyPrint)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from appliance.reports.actions import recommend
from appliance.reports.charts import (
    SEVERITY_COLOURS,
    band_colour,
    bar_chart,
    hourly_chart,
    trend_chart,
)
from appliance.reports.data import ReportData
from appliance.reports.i18n import BAND_VI, translator

logger = logging.getLogger(__name__)

_env = Environment(
    loader=PackageLoader("appliance.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_STAGE_VI = {
    "reconnaissance": "trinh sát", "credential-access": "dò mật khẩu",
    "lateral-movement": "lây lan nội bộ", "command-and-control": "điều khiển từ xa",
    "exfiltration": "đánh cắp dữ liệu", "impact": "phá hoại",
    "initial-access": "xâm nhập ban đầu", "policy": "vi phạm chính sách", "malware": "mã độc",
    "execution": "thực thi mã", "persistence": "duy trì truy cập",
}  # fmt: skip
REASON_CHARS = 160


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _band(score: int, lang: str) -> str:
    en = "critical" if score >= 75 else "high" if score >= 50 else "medium" if score >= 25 \
        else "low"  # fmt: skip
    return f"mức {BAND_VI[en]}" if lang == "vi" else f"{en} risk"


def _fmt_time(us: int | None, tz: ZoneInfo, lang: str) -> str:
    if us is None:
        return "—"
    local = dt.datetime.fromtimestamp(us / 1e6, tz=tz)
    return local.strftime("%H:%M %d/%m/%Y" if lang == "vi" else "%Y-%m-%d %H:%M")


def _day(day: dt.date, lang: str, short: bool = False) -> str:
    if short:
        return day.strftime("%d/%m" if lang == "vi" else "%m-%d")
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def _rate(bits_per_s: float) -> str:
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if bits_per_s < 1000 or unit == "Gbit/s":
            return f"{bits_per_s:,.1f} {unit}"
        bits_per_s /= 1000
    return f"{bits_per_s:,.1f} Gbit/s"


def traffic_view(traffic: dict[str, Any] | None, tz: ZoneInfo, lang: str) -> dict[str, Any] | None:
    """The traffic section (``Service.traffic.daily``), formatted."""
    volume = (traffic or {}).get("volume") or {}
    if not traffic or not volume.get("bytes"):
        return None
    peak = traffic.get("peak_hour")
    apps = traffic.get("top_apps") or []
    return {
        "volume": _bytes(float(volume.get("bytes", 0))),
        "flows": f"{int(volume.get('flows', 0)):,}",
        "peak": None if not peak else (_fmt_time(peak["start"], tz, lang) + " · "
                                       + _rate(float(peak["bits_per_s"]))),
        "apps_svg": bar_chart([(str(a["label"]), int(a["bytes"]), "#0f766e") for a in apps],
                              width=320, label_width=80) if apps else "",
        "talkers": [(str(t["label"]), _bytes(float(t["bytes"])))
                    for t in (traffic.get("top_talkers") or [])],
        "countries": [(str(c["label"]), _bytes(float(c["bytes"])))
                      for c in (traffic.get("top_countries") or [])],
        "new_destinations": [f"{d['host']} → {d['value']}"
                             for d in (traffic.get("new_destinations") or [])][:10],
    }  # fmt: skip


def view(data: ReportData, lang: str) -> dict[str, Any]:
    """Everything the template shows, formatted and in ``lang``."""
    t = translator(lang)
    vi = lang == "vi"
    tz = ZoneInfo(data.tz)
    sev = data.severity_counts or {}
    sev_labels = {1: t["high"], 2: t["medium"], 3: t["low"]}
    score = data.network_score
    return {
        "lang": lang, "t": t, "tz": data.tz, "organisation": data.organisation,
        "day_label": _day(data.day, lang), "generated": _fmt_time(data.generated_us, tz, lang),
        "footer": t["footer"].format(tz=data.tz),
        "score": score, "score_colour": band_colour(score) if score is not None else "#6b7280",
        "band": _band(score, lang) if score is not None else t["no_data"],
        "summary": data.incident_summary, "alerts_total": data.alerts_total, "sev": sev,
        "sev_labels": sev_labels, "severity_counts": data.severity_counts,
        "new_assets": None if data.new_assets is None else [
            {**a.__dict__, "first_seen": _fmt_time(a.first_seen, tz, lang)}
            for a in data.new_assets],
        "more_assets": t["more"].format(n=len(data.new_assets or []) - 8),
        "sensors": [{"name": s.name, "status": s.status, "status_label": t[s.status],
                     "detail": s.detail_vi if vi else s.detail_en} for s in data.sensors],
        "sensors_ok": sum(1 for s in data.sensors if s.status == "ok"),
        "quiet": data.quiet,
        "actions": [a[0] if vi else a[1] for a in recommend(data)],
        "trend_svg": trend_chart([(_day(d, lang, short=True), v) for d, v in data.trend]),
        "hosts": None if data.top_hosts is None else [
            {"ip": h.ip, "name": h.name, "owner": h.owner, "score": h.score,
             "colour": band_colour(h.score),
             "reasons": [_short(r) for r in (h.reasons_vi if vi else h.reasons_en)[:2]]}
            for h in data.top_hosts],
        "incidents": [
            {"id": i.id, "title": i.title_vi if vi else i.title_en, "severity": i.severity,
             "severity_label": t.get(i.severity, i.severity),
             "stages": ", ".join(_STAGE_VI.get(s, s) if vi else s for s in i.stages),
             "attackers": ", ".join(i.attackers[:2]), "victims": ", ".join(i.victims[:2]),
             "status": t.get(i.status, i.status), "first_seen": _fmt_time(i.first_seen, tz, lang)}
            for i in data.incidents],
        "severity_svg": bar_chart([(sev_labels[s], sev.get(s, 0), SEVERITY_COLOURS[s])
                                   for s in (1, 2, 3)], width=320, label_width=80),
        "category_svg": bar_chart([(c, n, "#4b5563") for c, n in data.categories[:6]],
                                  width=320, label_width=130) if data.categories else "",
        "hourly_svg": hourly_chart(data.hourly or [0] * 24),
        "signatures": data.signatures,
        "traffic": traffic_view(data.traffic, tz, lang),
        "rules_line": t["no_rules"] if data.rules_count is None else t["rules_line"].format(
            n=data.rules_count, age=data.rules_age_days or 0),
        "storage": "; ".join(f"{k}: " + t["days_left"].format(d=d)
                             for k, d in data.days_left.items() if d is not None),
    }  # fmt: skip


def render_html(data: ReportData, lang: str = "vi") -> str:
    """The report as one self-contained HTML document."""
    return _env.get_template("daily.html").render(**view(data, lang))


def render_pdf(html: str) -> bytes:
    """The HTML as a PDF (WeasyPrint; fonts with Vietnamese glyphs from the system)."""
    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return bytes(HTML(string=html).write_pdf())
