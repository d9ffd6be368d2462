"""Meta-tests of the layout: tests mirror the packages, and modules stay within budget."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import REPO

PACKAGES = ("appliance", "sensors", "webui")
#: Test folders that mirror no module: end-to-end tests and shared helpers.
NOT_MIRRORED = ("integration", "helpers")
#: Test modules at the top of tests/ that check the project as a whole.
META_TESTS = {"test_layout.py"}
MAX_MODULE_LINES = 400


def _test_files() -> list[Path]:
    return sorted((REPO / "tests").rglob("test_*.py"))


def _mirror_problem(test: Path) -> str | None:
    """Why ``test`` does not mirror a module, or None when it does."""
    rel = test.relative_to(REPO / "tests")
    if len(rel.parts) == 1:
        return None if rel.name in META_TESTS else "a test module outside any package folder"
    if rel.parts[0] in NOT_MIRRORED:
        return None
    if rel.parts[0] not in PACKAGES:
        return f"tests/{rel.parts[0]}/ mirrors no package ({', '.join(PACKAGES)})"
    name = rel.stem.removeprefix("test_")
    folder = REPO.joinpath(*rel.parts[:-1])
    if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
        return None
    package = REPO / rel.parts[0]
    found = sorted(
        p.relative_to(REPO)
        for p in [*package.rglob(f"{name}.py"), *package.rglob(f"{name}/__init__.py")]
    )
    where = f"{folder.relative_to(REPO)}/{name}.py"
    if found:
        module = found[0] if found[0].name != "__init__.py" else found[0].parent
        target = Path("tests", *module.parent.parts, f"test_{name}.py")
        return f"no {where}; the module is {module}, so the test belongs in {target}"
    return f"no {where} or package {folder.relative_to(REPO)}/{name}/"


def test_every_test_module_mirrors_a_module() -> None:
    files = _test_files()
    assert files, "no tests found"
    problems = {
        str(test.relative_to(REPO)): problem
        for test in files
        if (problem := _mirror_problem(test)) is not None
    }
    assert problems == {}, "\n".join(f"{t}: {p}" for t, p in problems.items())


def test_every_test_folder_is_a_package() -> None:
    # Without __init__.py, two test modules of the same name in different folders clash.
    folders = {test.parent for test in _test_files()}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert missing == []


def _non_blank_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_modules_stay_within_the_line_budget() -> None:
    modules = [p for pkg in PACKAGES if (REPO / pkg).is_dir() for p in (REPO / pkg).rglob("*.py")]
    assert modules, "no modules found"
    over = {
        str(p.relative_to(REPO)): n
        for p in sorted(modules)
        if (n := _non_blank_lines(p)) > MAX_MODULE_LINES
    }
    assert over == {}, f"modules over {MAX_MODULE_LINES} non-blank lines (split them): {over}"


def test_the_mirror_check_itself_tells_right_from_wrong() -> None:
    # The rules above, on paths that exist or cannot exist in this repository.
    tests = REPO / "tests"
    assert _mirror_problem(tests / "appliance" / "test_config.py") is None
    assert _mirror_problem(tests / "appliance" / "store" / "test_sqlite.py") is None
    assert _mirror_problem(tests / "sensors" / "test_demo.py") is None  # a package
    assert _mirror_problem(tests / "integration" / "test_anything.py") is None
    misplaced = _mirror_problem(tests / "appliance" / "test_migrate.py")
    assert misplaced == (
        "no appliance/migrate.py; the module is appliance/store/migrate.py, "
        "so the test belongs in tests/appliance/store/test_migrate.py"
    )
    assert _mirror_problem(tests / "appliance" / "test_no_such_module.py") == (
        "no appliance/no_such_module.py or package appliance/no_such_module/"
    )
    assert _mirror_problem(tests / "tools" / "test_x.py") == (
        "tests/tools/ mirrors no package (appliance, sensors, webui)"
    )
    assert _mirror_problem(tests / "test_misc.py") == "a test module outside any package folder"
