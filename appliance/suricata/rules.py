"""The active Suricata ruleset: transactional updates through suricata-update.

An update builds a candidate ruleset with suricata-update in a work directory, tests it
with ``suricata -T`` under the configuration spanwatch renders, and only then replaces
the active file atomically, keeping the previous one as ``suricata.rules.last-good``.
Whatever fails, the active rules stay as they were and a RulesError says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from appliance.config import AppConfig
from appliance.errors import RulesError, SuricataError
from appliance.suricata import render
from appliance.suricata.control import SuricataControl

logger = logging.getLogger(__name__)

ACTIVE_NAME = "suricata.rules"
BACKUP_SUFFIX = ".last-good"
ETOPEN_SOURCE = "et/open"
UPDATE_TIMEOUT_S = 900.0
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
MAX_BUNDLE_MEMBERS = 20000
_BUNDLE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_ACTIONS = frozenset({"alert", "drop", "pass", "reject", "rejectsrc", "rejectdst", "rejectboth"})
# An empty source that stands in for "no download": see RuleManager._plan.
_PLACEHOLDER = "no-download.rules"


@dataclass(frozen=True)
class UpdatePlan:
    """What suricata-update merges: local rule files and URLs to fetch."""

    local_files: tuple[Path, ...] = ()
    urls: tuple[str, ...] = ()
    etopen: bool = False


@dataclass(frozen=True)
class UpdateResult:
    """Outcome of a successful update."""

    path: Path
    rule_count: int
    previous_rule_count: int | None
    changed: bool
    sources: tuple[str, ...]


def update_argv(
    binary: Path,
    plan: UpdatePlan,
    *,
    suricata: Path,
    suricata_conf: Path,
    update_conf: Path,
    data_dir: Path,
    output_dir: Path,
) -> list[str]:
    """suricata-update's argv: merge into ``output_dir``, no reload, no test of its own."""
    argv = [
        str(binary),
        "update",
        "--config", str(update_conf),
        "--data-dir", str(data_dir),
        "--suricata", str(suricata),
        "--suricata-conf", str(suricata_conf),
        "--output", str(output_dir),
        "--no-reload",
        # We run suricata -T ourselves, with the configuration we will run.
        "--no-test",
        # A failed download must fail the update, not drop that source silently.
        "--fail",
    ]  # fmt: skip
    if plan.etopen:
        argv.append("--etopen")
    for url in plan.urls:
        argv += ["--url", url]
    for path in plan.local_files:
        argv += ["--local", str(path)]
    return argv


def iter_rules(lines: Iterator[str] | Sequence[str]) -> Iterator[str]:
    """Enabled rules from rule-file lines, joining backslash continuations."""
    pending = ""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        rule, pending = (pending + line).strip(), ""
        if rule and rule.split(None, 1)[0] in _ACTIONS:
            yield rule


def rule_count(path: Path) -> int:
    """Number of enabled rules in a rule file (commented-out rules do not count)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return sum(1 for _ in iter_rules(handle))


def is_bundle(path: Path) -> bool:
    """Whether ``path`` names a tar archive of rule files."""
    return path.name.lower().endswith(_BUNDLE_SUFFIXES)


def check_member_name(name: str) -> PurePosixPath:
    """The safe relative path of a bundle member; ValueError if it could escape."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or name.startswith(("/", "\\")):
        raise ValueError(f"member {name!r} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise ValueError(f"member {name!r} escapes the bundle")
    return path


def extract_bundle(archive: Path, dest: Path) -> list[Path]:
    """Extract the ``.rules`` files of a tar bundle into ``dest``; reject unsafe bundles.

    The whole bundle is rejected, before anything is written, if any member has an
    absolute path or ``..``, is a link or a device, or if it is too large.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _checked_members(tar)
            return [_extract_member(tar, member, dest) for member in members]
    except ValueError as err:
        raise RulesError(f"Rule bundle {archive.name} rejected: {err}") from err
    except (tarfile.TarError, OSError, EOFError) as err:
        raise RulesError(f"Rule bundle {archive.name} is not a readable tar file: {err}") from err


def _checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    if len(members) > MAX_BUNDLE_MEMBERS:
        raise ValueError(f"more than {MAX_BUNDLE_MEMBERS} members")
    total = 0
    wanted = []
    for member in members:
        check_member_name(member.name)
        if not (member.isfile() or member.isdir()):
            raise ValueError(f"member {member.name!r} is a link or a special file")
        total += member.size
        if member.isfile() and member.name.endswith(".rules"):
            wanted.append(member)
    if total > MAX_BUNDLE_BYTES:
        raise ValueError(f"larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB unpacked")
    if not wanted:
        raise ValueError("no .rules file inside")
    return wanted


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> Path:
    # Copy the bytes only: no owner, mode or link from the archive reaches the disk.
    target = dest.joinpath(*check_member_name(member.name).parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise ValueError(f"member {member.name!r} has no content")
    with source, target.open("wb") as out:
        shutil.copyfileobj(source, out)
    return target


def _rule_files_in(path: Path) -> list[Path]:
    """The ``.rules`` files at ``path``, a file or a directory; ValueError if none."""
    # suricata-update's --local DIR misses files in subdirectories (it joins the top
    # directory with the file name), so directories are expanded here. It also ignores
    # a file not named *.rules without a word, hence the check.
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.rules") if p.is_file())
        if not found:
            raise ValueError(f"{path} holds no .rules file")
        return found
    if path.suffix != ".rules":
        raise ValueError(f"{path} is neither a .rules file nor a tar bundle")
    return [path]


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` so that readers see the old or the new file only."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _tool_errors(output: str, limit: int = 10) -> list[str]:
    """suricata-update's "<Error> -- text" lines, without their timestamps."""
    found = []
    for line in output.splitlines():
        _, sep, text = line.partition("<Error> -- ")
        if sep and text.strip() not in found:
            found.append(text.strip())
    return found[:limit]


class RuleManager:
    """Owns the active ruleset in ``rules_dir``: update, test, install, reload."""

    def __init__(self, cfg: AppConfig, rules_dir: Path) -> None:
        self.cfg = cfg
        self.rules_dir = Path(rules_dir)

    @property
    def active_rules_path(self) -> Path:
        """The ruleset Suricata loads."""
        return self.rules_dir / ACTIVE_NAME

    @property
    def backup_path(self) -> Path:
        """The ruleset that was active before the last update."""
        return self.rules_dir / (ACTIVE_NAME + BACKUP_SUFFIX)

    @property
    def state_dir(self) -> Path:
        """suricata-update's data directory (download cache)."""
        return self.rules_dir / "suricata-update"

    def update(self, *, offline_files: Sequence[Path] = ()) -> UpdateResult:
        """Build, test and install a new ruleset; RulesError keeps the current one.

        The ruleset is the configured local rules, the enabled sources with a path,
        and either the enabled URL sources (downloaded) or, when ``offline_files`` are
        given (uploaded ``.rules`` files or tar bundles), those files instead: an
        offline update never touches the network.
        """
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        with (
            self._lock(),
            tempfile.TemporaryDirectory(prefix=".update-", dir=self.rules_dir) as tmp,
        ):
            work = Path(tmp)
            plan, sources = self._plan(work, [Path(p) for p in offline_files])
            candidate = self._build(plan, work)
            count = rule_count(candidate)
            if count == 0:
                raise self._failed("the new ruleset has no enabled rule")
            self._test(candidate, work)
            return self._install(candidate, count, sources)

    def reload(self, control: SuricataControl) -> None:
        """Ask the running Suricata to reload the active ruleset."""
        control.reload_rules()

    def rollback(self) -> None:
        """Put the last good ruleset back as the active one."""
        if not self.backup_path.exists():
            raise RulesError(f"No last good ruleset at {self.backup_path}")
        _copy_atomic(self.backup_path, self.active_rules_path)
        logger.warning("Restored the last good ruleset path=%s.", self.active_rules_path)

    def _failed(self, what: str) -> RulesError:
        return RulesError(
            f"Rule update failed: {what}. The last good rules are kept ({self.active_rules_path})."
        )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.rules_dir / ".update.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise RulesError("Another rule update is running; try again later.") from err
            yield

    def _plan(self, work: Path, offline_files: list[Path]) -> tuple[UpdatePlan, tuple[str, ...]]:
        local: list[Path] = []
        sources: list[str] = []
        for path in self.cfg.rules.local:
            local += self._local_input(path, work, "local rules")
            sources.append(f"local:{path}")
        urls: list[str] = []
        etopen = False
        for source in (s for s in self.cfg.rules.sources if s.enabled):
            if source.path is not None:
                local += self._local_input(source.path, work, f"source {source.name}")
            elif offline_files:
                logger.info("Offline update, not downloading source=%s.", source.name)
                continue
            elif source.url:
                urls.append(source.url)
            elif source.name == ETOPEN_SOURCE:
                etopen = True
            else:
                raise self._failed(f"source {source.name} has neither a url nor a path")
            sources.append(source.name)
        for path in offline_files:
            local += self._local_input(path, work, "uploaded rules")
            sources.append(f"upload:{path.name}")
        if not urls and not etopen:
            # suricata-update falls back to downloading ET Open whenever it has no URL,
            # even with --offline (which then exits: nothing cached). An empty local
            # file:// source keeps it off the network.
            urls.append(self._placeholder_url())
        return UpdatePlan(tuple(local), tuple(urls), etopen), tuple(sources)

    def _local_input(self, path: Path, work: Path, label: str) -> list[Path]:
        if not path.exists():
            raise self._failed(f"{label} {path} does not exist")
        if path.is_file() and is_bundle(path):
            dest = Path(tempfile.mkdtemp(prefix="bundle-", dir=work))
            try:
                return extract_bundle(path, dest)
            except RulesError as err:
                raise self._failed(str(err)) from err
        try:
            return _rule_files_in(path.absolute())
        except ValueError as err:
            raise self._failed(f"{label}: {err}") from err

    def _placeholder_url(self) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        empty = self.state_dir / _PLACEHOLDER
        empty.write_bytes(b"")
        # suricata-update compares a cached download with "<url>.md5".
        (self.state_dir / (_PLACEHOLDER + ".md5")).write_text(hashlib.md5(b"").hexdigest())
        return empty.absolute().as_uri()

    def _build(self, plan: UpdatePlan, work: Path) -> Path:
        output = work / "output"
        output.mkdir()
        candidate = output / ACTIVE_NAME
        conf = self._write_test_config(work, candidate)
        update_conf = work / "update.yaml"
        # Our own (empty) update.yaml, so that a distribution's /etc/suricata/update.yaml
        # cannot add sources or filters behind spanwatch's back.
        update_conf.write_text("# Generated by spanwatch; settings are command-line flags.\n")
        argv = update_argv(
            self.cfg.rules.update_binary,
            plan,
            suricata=self.cfg.suricata.binary,
            suricata_conf=conf,
            update_conf=update_conf,
            data_dir=self.state_dir,
            output_dir=output,
        )
        self._run_tool(argv)
        if not candidate.is_file():
            raise self._failed(f"suricata-update wrote no {ACTIVE_NAME}")
        return candidate

    def _write_test_config(self, work: Path, candidate: Path) -> Path:
        return render.write_suricata_config(
            work / "suricata.yaml", self.cfg, log_dir=work / "log", rule_files=[candidate]
        )

    def _run_tool(self, argv: list[str]) -> None:
        inputs = argv.count("--local") + argv.count("--url")
        logger.info("Running suricata-update inputs=%d.", inputs)
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, errors="replace", timeout=UPDATE_TIMEOUT_S
            )
        except (FileNotFoundError, PermissionError) as err:
            raise self._failed(f"suricata-update cannot run ({argv[0]}): {err.strerror}") from err
        except subprocess.TimeoutExpired as err:
            raise self._failed(f"suricata-update took over {UPDATE_TIMEOUT_S:.0f} s") from err
        output = (proc.stdout + proc.stderr)[-4000:]
        logger.debug("Ran suricata-update status=%d output=%r.", proc.returncode, output)
        if proc.returncode != 0:
            errors = _tool_errors(proc.stdout + "\n" + proc.stderr)
            detail = "; ".join(errors) or f"exit status {proc.returncode}"
            raise self._failed(f"suricata-update failed: {detail}")

    def _test(self, candidate: Path, work: Path) -> None:
        try:
            render.test_suricata_config(self.cfg.suricata.binary, work / "suricata.yaml")
        except SuricataError as err:
            raise self._failed(f"the new ruleset does not pass suricata -T: {err}") from err

    def _install(self, candidate: Path, count: int, sources: tuple[str, ...]) -> UpdateResult:
        active = self.active_rules_path
        previous = rule_count(active) if active.exists() else None
        changed = not active.exists() or active.read_bytes() != candidate.read_bytes()
        if changed:
            if active.exists():
                _copy_atomic(active, self.backup_path)
            os.chmod(candidate, 0o644)
            os.replace(candidate, active)
        logger.info(
            "Installed ruleset rules=%d previous=%s changed=%s path=%s.",
            count, previous, changed, active,
        )  # fmt: skip
        return UpdateResult(active, count, previous, changed, sources)
