"""The report as a manager gets it: PDF pages that render, in Vietnamese or English,
escaped, two pages on a busy day and one on a quiet day."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.reports import render
from tests.helpers.report_data import busy_day, quiet_day


def pdf_pages(pdf: Path, out: Path) -> list[Path]:
    """Render every page to PNG with pdftoppm (poppler-utils); the PNGs stay for a look."""
    assert shutil.which("pdftoppm"), "poppler-utils missing (make deps)"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(out / pdf.stem)],
                   check=True, timeout=60)  # fmt: skip
    return sorted(out.glob(f"{pdf.stem}-*.png"))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout  # fmt: skip


@pytest.fixture(scope="module")
def busy_vi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "busy-vi.pdf"
    path.write_bytes(render(busy_day(), "vi", "pdf"))
    return path


def test_a_busy_day_is_two_to_three_pages_that_render(busy_vi: Path) -> None:
    pages = pdf_pages(busy_vi, busy_vi.parent)
    assert 2 <= len(pages) <= 3
    assert all(p.stat().st_size > 10_000 for p in pages)  # real content, not blank pages


def test_the_vietnamese_report_reads_in_vietnamese(busy_vi: Path) -> None:
    text = pdf_text(busy_vi)
    for phrase in ("Báo cáo rủi ro an ninh mạng — 23/11/2026", "Điểm rủi ro của mạng",
                   "Xu hướng 7 ngày", "Việc cần làm", "Các máy rủi ro nhất",
                   "Dò mật khẩu SSH", "Thiết bị mới", "Tình trạng cảm biến",
                   "15,003 luật đang dùng"):  # fmt: skip
        assert "".join(phrase.split()) in "".join(text.split()), phrase


def test_recommended_actions_come_from_the_data(busy_vi: Path) -> None:
    text = "".join(pdf_text(busy_vi).split())  # line breaks fall anywhere in a column
    for phrase in ("Điều tra 3 sự cố mức cao/nghiêm trọng đang mở, bắt đầu với #12",
                   "Kiểm tra máy 10.10.1.20 (điểm rủi ro 81)", "Khắc phục cảm biến span"):
        assert "".join(phrase.split()) in text, phrase


def test_english_on_request_and_packet_data_escaped() -> None:
    html = render(busy_day(), "en", "html").decode()
    assert "Network security risk report — 2026-11-23" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_quiet_day_is_one_page_that_says_so(tmp_path: Path) -> None:
    pdf = tmp_path / "quiet-vi.pdf"
    pdf.write_bytes(render(quiet_day(), "vi", "pdf"))
    assert len(pdf_pages(pdf, tmp_path)) == 1
    text = "".join(pdf_text(pdf).split())
    assert "Mộtngàyyêntĩnh" in text and "Khôngcầnhànhđộngkhẩncấp" in text


def test_unknown_language_or_format_is_refused() -> None:
    with pytest.raises(ValueError):
        render(quiet_day(), "fr", "pdf")
    with pytest.raises(ValueError):
        render(quiet_day(), "vi", "docx")
