"""Vietnamese and English: one catalog per area, merged when the app starts.

Source strings are English (``_("Alerts")`` in templates and code). Each area keeps its
Vietnamese translations in its own ``webui/<area>/translations/vi.po`` (the platform's in
``webui/translations/vi.po``), so several people add strings without touching one shared
file. At start the catalogs are merged and compiled to a ``.mo`` in the data directory;
no compiled file lives in the repository.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request, session

from appliance.config import AppConfig

logger = logging.getLogger(__name__)

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}
WEBUI_DIR = Path(__file__).resolve().parent


def catalog_files(root: Path = WEBUI_DIR) -> list[Path]:
    """Every ``translations/vi.po`` of the web UI, the platform's first."""
    files = [p for p in root.glob("**/translations/vi.po") if "node_modules" not in p.parts]
    return sorted(files, key=lambda p: (len(p.parts), str(p)))


def merged_catalog(files: list[Path]) -> Catalog:
    """One catalog holding every area's translations (a later duplicate is logged)."""
    merged = Catalog(locale="vi", domain="messages")
    for path in files:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="vi")
        for message in catalog:
            if not message.id or not message.string:
                continue
            old = merged.get(message.id, message.context)
            if old is not None and old.string != message.string:
                logger.warning("Translation of %r differs in %s.", message.id, path)
            merged[message.id] = message
    return merged


def compile_catalogs(dest: Path, files: list[Path] | None = None) -> Path:
    """Write ``dest/vi/LC_MESSAGES/messages.mo`` atomically; returns ``dest``."""
    catalog = merged_catalog(catalog_files() if files is None else files)
    folder = dest / "vi" / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        write_mo(out, catalog)
    os.replace(tmp, folder / "messages.mo")
    return dest


def init_app(app: Flask, cfg: AppConfig) -> None:
    from webui.extensions import babel

    dest = compile_catalogs(cfg.data_dir / "web" / "i18n")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(dest)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    babel.init_app(app, locale_selector=select_language)


def select_language() -> str:
    """The session's choice, else the user's, else the appliance default (vi)."""
    from webui.extensions import current_config

    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    user = getattr(g, "user", None)
    if user is not None and user.language in LANGUAGES:
        return str(user.language)
    if request.path.startswith("/api/v1/"):
        return "en"
    return current_config().web.language
