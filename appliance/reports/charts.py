"""Small server-side SVG charts for the report (no JavaScript, no external assets).

Every label is escaped here, so the SVG can be embedded in the report as it is.
"""

from __future__ import annotations

from html import escape

BAND_COLOURS = ((75, "#b91c1c"), (50, "#ea580c"), (25, "#ca8a04"), (0, "#15803d"))
SEVERITY_COLOURS = {1: "#b91c1c", 2: "#ea580c", 3: "#2563eb"}
FONT = "font-family=\"DejaVu Sans, Noto Sans, sans-serif\""


def band_colour(score: int) -> str:
    """Colour of a 0-100 risk score."""
    return next(colour for threshold, colour in BAND_COLOURS if score >= threshold)


def _text(x: float, y: float, label: str, *, size: int = 10, anchor: str = "middle",
          fill: str = "#374151", weight: str = "normal") -> str:  # fmt: skip
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}" font-weight="{weight}" {FONT}>{escape(label)}</text>')  # fmt: skip


def trend_chart(points: list[tuple[str, int | None]], *, width: int = 330,
                height: int = 160) -> str:  # fmt: skip
    """A 0-100 line chart of daily scores with coloured risk bands behind it."""
    left, right, top, bottom = 30, 18, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img">']  # fmt: skip
    for low, high, colour in ((0, 25, "#dcfce7"), (25, 50, "#fef9c3"), (50, 75, "#ffedd5"),
                              (75, 100, "#fee2e2")):  # fmt: skip
        y = top + plot_h * (1 - high / 100)
        parts.append(f'<rect x="{left}" y="{y:.1f}" width="{plot_w}" '
                     f'height="{plot_h * (high - low) / 100:.1f}" fill="{colour}"/>')  # fmt: skip
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(_text(left - 4, y + 3, str(tick), size=8, anchor="end"))
    n = max(1, len(points) - 1)
    coords = []
    for i, (label, value) in enumerate(points):
        x = left + plot_w * (i / n if len(points) > 1 else 0.5)
        parts.append(_text(x, height - 8, label, size=8))
        if value is not None:
            coords.append((x, top + plot_h * (1 - max(0, min(100, value)) / 100), value))
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f2937" stroke-width="2"/>')
    for x, y, value in coords:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{band_colour(value)}" '
                     'stroke="#1f2937" stroke-width="1"/>')  # fmt: skip
        parts.append(_text(x, y - 7, str(value), size=9, weight="bold"))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(items: list[tuple[str, int, str]], *, width: int = 460, bar: int = 16,
              label_width: int = 190) -> str:  # fmt: skip
    """Horizontal bars: (label, value, colour), longest label cut to fit."""
    height = max(1, len(items)) * (bar + 6) + 4
    biggest = max((v for _, v, _ in items), default=1) or 1
    plot_w = width - label_width - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img">']  # fmt: skip
    for i, (label, value, colour) in enumerate(items):
        y = 2 + i * (bar + 6)
        fits = max(6, int(label_width / 5.8))  # about 5.5 px per character at 9 px
        short = label if len(label) <= fits else label[: fits - 1] + "…"
        parts.append(_text(label_width - 6, y + bar - 4, short, size=9, anchor="end"))
        w = max(1.0, plot_w * value / biggest)
        parts.append(f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar}" '
                     f'fill="{colour}" rx="2"/>')  # fmt: skip
        parts.append(_text(label_width + w + 4, y + bar - 4, f"{value:,}", size=9,
                           anchor="start"))  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def hourly_chart(counts: list[int], *, width: int = 680, height: int = 100,
                 colour: str = "#4b5563") -> str:  # fmt: skip
    """24 columns, one per local hour of the day."""
    left, bottom = 6, 16
    plot_h = height - bottom - 4
    col = (width - 2 * left) / max(1, len(counts))
    biggest = max(counts, default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img">']  # fmt: skip
    for hour, value in enumerate(counts):
        h = plot_h * value / biggest
        x = left + hour * col
        parts.append(f'<rect x="{x + 1:.1f}" y="{4 + plot_h - h:.1f}" width="{col - 2:.1f}" '
                     f'height="{h:.1f}" fill="{colour}"/>')  # fmt: skip
        if hour % 3 == 0:
            parts.append(_text(x + col / 2, height - 4, f"{hour:02d}h", size=8))
    parts.append("</svg>")
    return "".join(parts)
