"""Security headers, a CSP with no inline script, templates that obey it, the secret key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from appliance.errors import ConfigError
from tests.webui.conftest import WebClient
from webui.i18n import WEBUI_DIR
from webui.security import load_secret_key

#: What the CSP forbids in a template: inline event handlers, javascript: URLs, inline
#: <script> with code, style attributes and <style> blocks.
_INLINE = [
    (re.compile(r"<[^>]*\son[a-z]+\s*=", re.I), "inline event handler (on...=)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
     "inline <script> (use a static file, or type=\"application/json\" for data)"),
    (re.compile(r"<[^>]*\sstyle\s*=", re.I), "style attribute (use a CSS class)"),
    (re.compile(r"<style[\s>]", re.I), "<style> block (use webui/static/*.css)"),
]
_SAFE = re.compile(r"\|\s*safe\b")


def test_every_response_carries_the_security_headers(admin_client: WebClient) -> None:
    for path in ("/account", "/login", "/static/spanwatch.css", "/api/v1/me", "/nope"):
        response = admin_client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        response.close()


def test_pages_are_not_cached(admin_client: WebClient) -> None:
    assert admin_client.get("/account").headers["Cache-Control"] == "no-store"


def test_templates_have_no_inline_script_style_or_safe_filter() -> None:
    problems = []
    for template in sorted(WEBUI_DIR.glob("**/templates/**/*.html")):
        if "node_modules" in template.parts:
            continue
        text = re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.S)
        for match in _SAFE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{template.relative_to(WEBUI_DIR)}:{line}: |safe (keep data escaped)")
        # Jinja expressions are not HTML (``url_for(..., one=x)``); keep the line count.
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", lambda m: "J" + "\n" * m.group().count("\n"),
                      text, flags=re.S)  # fmt: skip
        for pattern, what in _INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{template.relative_to(WEBUI_DIR)}:{line}: {what}")
    assert problems == []


def test_rendered_pages_have_no_inline_script(admin_client: WebClient, app: Flask) -> None:
    for path in ("/account", "/users/", "/audit/", "/settings/", "/api/"):
        page = admin_client.get(path).get_data(as_text=True)
        for script in re.findall(r"<script[^>]*>", page):
            assert "src=" in script or 'type="application/json"' in script, (path, script)


def test_secret_key_is_made_once_private_and_never_empty(tmp_path: Path) -> None:
    path = tmp_path / "web" / "secret_key"
    key = load_secret_key(path)
    assert len(key) >= 64 and load_secret_key(path) == key
    assert path.stat().st_mode & 0o077 == 0
    path.write_bytes(b"")
    with pytest.raises(ConfigError):
        load_secret_key(path)


def test_each_appliance_gets_its_own_secret(tmp_path: Path) -> None:
    assert load_secret_key(tmp_path / "a") != load_secret_key(tmp_path / "b")
