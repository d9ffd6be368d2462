"""Packet data is attacker-controlled: the hostile-names capture (HTML and JavaScript in
host names, URIs, user agents, DNS and TLS names, file names, an FTP user, rule messages)
is analyzed and every page that shows it is opened in Chromium. Nothing may run, no
element may be injected, and each payload must be on screen as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sensors.demo.hostile import PAYLOADS
from tests.helpers.demo_store import hostile_appliance
from tests.integration.browser.conftest import UI
from tests.webui.conftest import LiveServer, start_web_server

#: Pages of any area that list or show host names, URIs, DNS/TLS names or file names.
START_PAGES = ("/dashboard/", "/alerts/", "/alerts/?view=groups", "/alerts/?status=all",
               "/incidents/", "/assets/", "/traffic/", "/rules/", "/audit/")  # fmt: skip
#: Links worth following from them (details of alerts, incidents, hosts).
FOLLOW = re.compile(r"^/(alerts/\d+(/packets)?|incidents/\d+|assets/[0-9a-f.:]+)/?$")
MAX_PAGES = 80
CSP_DIRECTIVE = re.compile(r"Content Security Policy directive[: ]+\"?'?([a-z-]+)")
#: What an injected element or script would look like in the DOM.
INJECTED = """() => ({
  handlers: document.querySelectorAll('[onload],[onerror],[onclick],[onmouseover]').length,
  scripts: document.querySelectorAll('script:not([src]):not([type="application/json"])').length,
  svgs: document.querySelectorAll('main svg').length,
  flag: typeof window.__xss !== 'undefined',
})"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    config = hostile_appliance(tmp_path_factory.mktemp("hostile"), core=True)
    server = start_web_server(config)
    yield server
    server.stop()


@pytest.fixture
def admin_ui(browser: Any, hostile_server: LiveServer, tmp_path: Path) -> Iterator[UI]:
    view = UI(browser, hostile_server, tmp_path)
    view.console: list[str] = []  # type: ignore[misc]
    view.page.on("console", lambda msg: view.console.append(  # type: ignore[attr-defined]
        f"{view.page.url}: {msg.text}"))
    yield view
    view.close()


def test_the_detector_sees_an_injection(browser: Any) -> None:
    # The checks below must be able to fail: a page with a live payload trips them.
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_content(f"<main><p>{PAYLOADS['host']}</p><p>{PAYLOADS['file']}</p></main>")
    page.wait_for_timeout(300)
    found = page.evaluate(INJECTED)
    context.close()
    assert dialogs and (found["handlers"] or found["svgs"])


def _links(ui: UI) -> list[str]:
    hrefs = ui.page.eval_on_selector_all("main a[href]",
                                         "els => els.map(e => e.getAttribute('href'))")
    return [h.split("?")[0] for h in hrefs if h and FOLLOW.match(h.split("?")[0])]


def test_no_payload_runs_and_every_payload_is_shown_as_text(admin_ui: UI) -> None:
    ui = admin_ui
    ui.login("admin")
    queue, seen, texts = list(START_PAGES), set(), []
    problems: list[str] = []
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = ui.open(path)
        if response is None or response.status == 404:
            continue  # an area that is not installed
        assert response.status == 200, f"{path}: {response.status}"
        found = ui.page.evaluate(INJECTED)
        if any(found.values()):
            problems.append(f"{path}: {found}")
        texts.append(ui.page.inner_text("body"))
        queue += [link for link in _links(ui) if link not in seen]
    shown = "\n".join(texts)
    # A blocked script (inline, handler, javascript: URL) means markup got through.
    csp = [m for m in ui.console  # type: ignore[attr-defined]
           if (d := CSP_DIRECTIVE.search(m)) and d.group(1).startswith("script-src")]
    styles = sorted({m.split(": ")[0] for m in ui.console  # type: ignore[attr-defined]
                     if (d := CSP_DIRECTIVE.search(m)) and d.group(1).startswith("style-src")})
    if styles:  # not an injection, but the page breaks the no-inline-style rule
        print("pages with inline styles the CSP blocks:", *styles, sep="\n  ")
    assert ui.dialogs == [], ui.dialogs
    assert problems == [] and csp == [] and ui.errors == []
    missing = [name for name, payload in PAYLOADS.items() if payload not in shown]
    assert missing == [], f"payloads not shown as text: {missing} (pages: {sorted(seen)})"
    assert "XSS test <script>alert('msg')</script> DNS name" in shown
    assert any(p.startswith("/alerts/") and p.endswith("/packets") for p in seen)
    ui.open("/alerts/?status=all")
    ui.shot("xss-alerts")
    detail = next(p for p in sorted(seen) if re.match(r"^/alerts/\d+$", p))
    ui.open(detail)
    ui.shot("xss-detail")
