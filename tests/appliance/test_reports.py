"""Reports made from a real store (the demo capture analyzed by spanwatch), stored,
listed, served, and the same numbers as the services they come from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.assets.inventory import Inventory
from appliance.config import load_config
from appliance.service import Service
from tests.helpers.cli import run_spanwatch


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the demo capture, analyzed (spanwatch demo-capture + analyze)."""
    tmp = tmp_path_factory.mktemp("demo")
    assert run_spanwatch("demo-capture", tmp / "demo.pcap").returncode == 0
    done = run_spanwatch("analyze", "-q", "--data-dir", tmp / "data", "--rules",
                         Path(__file__).resolve().parents[2] / "config" / "rules",
                         tmp / "demo.pcap")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tmp / "data"


@pytest.fixture
def service(analyzed: Path) -> Iterator[Service]:
    svc = Service(load_config(None, overrides={"data_dir": str(analyzed)}, environ={}))
    Inventory(svc).run_once()
    yield svc
    svc.close()


def demo_day(service: Service) -> dt.date:
    newest = service.store.stats().newest_us
    assert newest is not None
    return dt.datetime.fromtimestamp(newest / 1e6, ZoneInfo(service.cfg.timezone)).date()


def test_the_report_holds_what_the_services_hold(service: Service) -> None:
    day = demo_day(service)
    service.risk.recompute()
    data = service.reports.collect(day)
    assert data.network_score == service.risk.network().score
    assert [h.ip for h in data.top_hosts or []] == [ip for ip, _ in service.risk.top(5)]
    assert data.severity_counts == service.alerts.severity_counts(data.start_us, data.end_us)
    assert data.sensors and data.trend[-1][0] == day
    assert data.traffic == service.traffic.daily(data.start_us)


def test_reports_are_stored_listed_and_served(service: Service) -> None:
    day = demo_day(service)
    stored = service.reports.generate(day, lang="vi")
    assert {r.format for r in stored} == {"html", "pdf"}
    pdf = next(r for r in stored if r.format == "pdf")
    assert Path(pdf.path).is_file() and pdf.path.startswith(str(service.cfg.data_dir))
    content = service.reports.content(pdf.id)
    assert content is not None and content.startswith(b"%PDF")
    # Made again: replaced, not duplicated.
    (again,) = service.reports.generate(day, lang="vi", formats=("pdf",))
    page = service.reports.list()
    assert page.total == 2 and {r.format for r in page.items} == {"html", "pdf"}
    assert again.created_at > pdf.created_at
    assert service.reports.prune(30, day + dt.timedelta(days=31)) == 2
    assert service.reports.list().total == 0


def test_spanwatch_report_cli(analyzed: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = run_spanwatch("report", "--data-dir", analyzed, "--date", "2026-11-23",
                         "--lang", "en", "--format", "html", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Network security risk report — 2026-11-23" in out.read_text(encoding="utf-8")
    bad = run_spanwatch("report", "--data-dir", analyzed, "--date", "23/11/2026",
                        "--out", out)  # fmt: skip
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
