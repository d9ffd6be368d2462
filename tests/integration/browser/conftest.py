"""Browser tests: Debian's Chromium driven by Playwright for Python, against ``spanwatch
web`` (gunicorn, HTTPS) on loopback with the demo data.

Playwright never downloads a browser here: it launches the system Chromium
(``/usr/bin/chromium``, installed by ``make test``). Fixtures:

- ``browser``: one headless Chromium for the session.
- ``demo_server``: the demo capture analyzed (alerts, findings, flows) and served, with
  one user per role; module-scoped (each test module gets its own appliance).
- ``ui``: a fresh browser context on ``demo_server`` (:class:`UI`: log in, open a page,
  screenshot), recording every JavaScript dialog and page error.

Screenshots go to the test's ``tmp_path`` and are copied to ``/tmp/plan/screens/``
(``SPANWATCH_SCREENS`` overrides) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.demo_store import analyzed_appliance
from tests.webui.conftest import LiveServer, start_web_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENS = Path(os.environ.get("SPANWATCH_SCREENS", "/tmp/plan/screens"))
VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests. Package-scoped: Playwright's sync API marks an
    asyncio loop running in the main thread until it stops, which would break later tests
    that run a loop of their own (pyshark's dissection)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("Chromium is not installed at /usr/bin/chromium; `make test` installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    config = analyzed_appliance(tmp_path_factory.mktemp("browser-demo"), core=True)
    server = start_web_server(config)
    yield server
    server.stop()


class UI:
    """One browser context on a live server, with what the tests need around it."""

    def __init__(self, browser: Any, server: LiveServer, out: Path, *, lang: str = "en") -> None:
        self.server = server
        self.out = out
        self.context = browser.new_context(ignore_https_errors=True, viewport=VIEWPORT,
                                           accept_downloads=True, locale=lang)  # fmt: skip
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        self.page.set_default_timeout(20_000)
        self.lang = lang
        self._pending: set[Any] = set()
        self.page.on("request", lambda request: self._pending.add(request))
        self.page.on("requestfinished", lambda request: self._pending.discard(request))
        self.page.on("requestfailed", lambda request: self._pending.discard(request))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        # data-confirm questions are ours; anything else is a finding of the test.
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until the page has loaded and none of its requests is still open.

        This is what Playwright's "networkidle" checks, without its 500 ms of quiet per
        page: the pages are rendered by the server, and only the rules search fetches
        anything, on input (its tests wait for the fetched rows)."""
        self.page.wait_for_load_state("load")
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() > deadline:
                urls = sorted(request.url for request in self._pending)
                raise AssertionError(f"requests still open after {timeout} s: {urls}")
            self.page.wait_for_timeout(10)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.server.url + path)
        self.settle()
        return response

    def click_through(self, target: Any) -> None:
        """Click a link or submit button (a selector or a locator), wait for the page it
        leads to."""
        with self.page.expect_navigation():
            if isinstance(target, str):
                self.page.click(target)
            else:
                target.click()
        self.settle()

    def login(self, role: str = "analyst") -> None:
        username, password = self.server.users[role]
        self.open("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.click_through("button[type=submit]")
        assert "/login" not in self.page.url, self.page.content()[:2000]
        if self.lang == "en" and self.page.locator("html[lang=vi]").count():
            self.click_through("a[href*='/language/en']")

    def shot(self, name: str) -> Path:
        """A full-page screenshot, kept with the test and copied for people to look at."""
        path = self.out / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENS / path.name)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def ui(browser: Any, demo_server: LiveServer, tmp_path: Path) -> Iterator[UI]:
    view = UI(browser, demo_server, tmp_path)
    yield view
    view.close()
