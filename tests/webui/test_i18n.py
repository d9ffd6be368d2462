"""Every user-facing string of the web UI exists in Vietnamese; catalogs merge per area."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from webui.i18n import WEBUI_DIR, catalog_files, compile_catalogs, merged_catalog

_KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
_METHODS = [("**/node_modules/**", "ignore"), ("**.py", "python"),
            ("**/templates/**.html", "jinja2")]  # fmt: skip
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> dict[str, str]:
    """msgid -> the first file using it, over every area of the web UI."""
    seen: dict[str, str] = {}
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for name, _line, message, _comments, _ctx in extract_from_dir(
        WEBUI_DIR, _METHODS, options, keywords=_KEYWORDS,
        directory_filter=lambda d: "node_modules" not in d,
    ):  # fmt: skip
        msgid = message[0] if isinstance(message, tuple) else message
        seen.setdefault(msgid, name)
    return seen


def test_every_string_has_a_vietnamese_translation() -> None:
    catalog = merged_catalog(catalog_files())
    missing = {
        msgid: where for msgid, where in _extracted().items()
        if catalog.get(msgid) is None or not catalog.get(msgid).string
    }  # fmt: skip
    by_file = "\n".join(f"{where}: {msgid!r}" for msgid, where in sorted(missing.items(),
                                                                         key=lambda kv: kv[1]))
    assert not missing, f"add these to the area's translations/vi.po:\n{by_file}"


def test_translations_keep_their_placeholders() -> None:
    wrong = [
        message.id for message in merged_catalog(catalog_files())
        if message.id and message.string
        and set(_PLACEHOLDER.findall(str(message.id))) != set(_PLACEHOLDER.findall(message.string))
    ]  # fmt: skip
    assert wrong == []


def test_each_area_catalog_is_merged(tmp_path: Path) -> None:
    platform = tmp_path / "translations" / "vi.po"
    area = tmp_path / "alerts" / "translations" / "vi.po"
    for path, msgid, msgstr in ((platform, "Log in", "Đăng nhập"),
                                (area, "Archive", "Lưu trữ")):  # fmt: skip
        path.parent.mkdir(parents=True)
        path.write_text(f'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                        f'msgid "{msgid}"\nmsgstr "{msgstr}"\n', encoding="utf-8")  # fmt: skip
    files = catalog_files(tmp_path)
    assert files == [platform, area]
    out = compile_catalogs(tmp_path / "out", files)
    assert (out / "vi" / "LC_MESSAGES" / "messages.mo").stat().st_size > 0
    merged = merged_catalog(files)
    assert merged.get("Archive").string == "Lưu trữ"  # type: ignore[union-attr]
