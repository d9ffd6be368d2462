"""Acceptance test of the sensor pipeline against Suricata's own regression cases.

Every case of the suricata-verify subset in the shared test data (its pcap, rules, own
``suricata.yaml`` if any, and ``args``) goes through ``spanwatch analyze`` into a fresh
store, and through the real Suricata the way suricata-verify runs it (the corpus README:
case args, ``--set classification-file=… --set reference-config-file=…``,
``--init-errors-fatal``, ``-l``, ``--simulate-ips`` for names containing "ips", ``-c``,
``-r``, ``-S rules`` or ``--disable-detection``; TZ=UTC, cwd = the case folder).

What is compared, and why this is the fair comparison:

* The reference run uses **the configuration analyze used**: the case's own
  ``suricata.yaml``, or else the one analyze rendered into ``data_dir/runs/*/`` (read
  from there as soon as analyze has written it, so both Suricatas run side by side).
  Suricata's own ``eve.json`` is then the exact record of what the store must hold, so
  ``test_store_holds_suricata_eve_exactly`` asserts record for record: alerts per sid
  (store and ``--json`` summary), events per type, each alert's (timestamp, sid, src,
  dest) once, and every record equal as a multiset. Flow ids are random per Suricata run
  (the flow hash is seeded at start-up), so instead of comparing them we compare how
  they group records: the records sharing a flow id must be the same sets in both runs.
  Stats records are compared without their wall-clock and thread-timing counters.
  Case args go to analyze as its options (``--set``, ``-k``, ``--simulate-ips``,
  ``--no-random``, ``--runmode``); an arg it could not express would stay in the reference
  run only, and a case whose output it changes would be listed in ``STORE_GAPS``.
* Running the reference with the stock ``/etc/suricata/suricata.yaml`` instead would
  mix up two questions (does the pipeline lose or duplicate events? are spanwatch's
  Suricata defaults right?). The second question is asked by
  ``test_case_checks_hold_on_store``: the case's own test.yaml checks, which pass on
  stock Suricata 7.0.10 (651 pass, 47 version-gated, 1 shell check), are evaluated on
  the records read back from the store. Cases whose checks fail only because of
  spanwatch's configuration or a missing analyze option are listed in ``CHECK_GAPS``
  with the reason; they are strict xfails (unless the outcome varies between runs), so
  fixing the product turns them into failures that ask for the entry to be removed.
* Checks that read another EVE file (``filename:``) cannot be answered by the store,
  which holds the records of every EVE file of a case's config without telling the
  files apart; they are evaluated on the file analyze's Suricata wrote. ``shell`` checks
  are not run.

analyze gets absolute paths and runs from the test's working directory, as an operator
would run it; the reference Suricata runs in the case folder, as upstream's runner does.
Most cases call ``appliance.cli.main`` in-process (Python start-up would double the run
time); the cases in ``SUBPROCESS_CASES`` go through the installed console script.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.cli import main as spanwatch_main
from appliance.events import decode_line
from appliance.store import EventQuery, open_store
from appliance.suricata import render
from sensors.analyze import eve_filenames
from sensors.analyzers import REGISTRY
from sensors.analyzers.cleartext import redact_credentials
from tests.helpers import cli
from tests.helpers.verify import (
    VerifyCase,
    alert_keys,
    build_features,
    canonical_record,
    describe_difference,
    discover_cases,
    evaluate_checks,
    flow_groups,
    record_matches,
    sid_counts,
    type_counts,
    unmet_requirement,
)

CORPUS = cli.testdata_dir() / "suricata-verify"
CASES = discover_cases(CORPUS) if CORPUS.is_dir() else []
CLASSIFICATION = "/etc/suricata/classification.config"
REFERENCE_CONFIG = "/etc/suricata/reference.config"

#: A handful of cases run through the real console script: one plain, one with its own
#: suricata.yaml, one nested with a relative rules path, one with env, one with --set.
SUBPROCESS_CASES = frozenset({
    "alert-testmyids-midstream", "bug-6207-2", "ftp/ftp-download-passive",
    "dns/v2/dns-z-bit", "http-evader/http-evader-000",
})  # fmt: skip

#: Cases where the store cannot equal the reference for a known product reason:
#: name -> (reason, strict). Non-strict where the outcome varies between runs.
STORE_GAPS: dict[str, tuple[str, bool]] = {}

#: Cases whose test.yaml checks fail on the store because spanwatch's rendered
#: suricata.yaml deliberately differs from the stock one.
CHECK_GAPS: dict[str, tuple[str, bool]] = {
    "bug-78-uricontent": (
        "alert http-body-printable adds http_response_body_printable to "
        "the alert's http object, which the check compares whole",
        True,
    ),
    "mime/mime-dec-parse-long-filename01": (
        "with the file-store output on, Suricata does not log the last, HELO-only SMTP transaction",
        True,
    ),
}


@dataclass
class CaseRun:
    """Both runs of one case: what the store holds and what Suricata wrote."""

    case: VerifyCase
    exit_code: int
    output: str
    summary: dict[str, Any] | None
    stored: list[dict[str, Any]]
    reference: list[dict[str, Any]]
    analyze_files: dict[str, list[dict[str, Any]]]


# -- translating a case into commands ------------------------------------------------------


def analyze_options(case: VerifyCase) -> tuple[list[str], list[str]]:
    """``spanwatch analyze`` options for the case's args, and the args it cannot express."""
    # suricata-verify's fixed arguments are settings, so they translate like the case's.
    opts = ["--set", f"classification-file={CLASSIFICATION}",
            "--set", f"reference-config-file={REFERENCE_CONFIG}"]  # fmt: skip
    missing: list[str] = []
    args = iter(case.args)
    for arg in args:
        if arg == "--set":
            opts += ["--set", next(args)]
        elif arg == "-k":
            opts += ["--checksum", next(args)]
        elif arg in ("--simulate-ips", "--no-random"):
            opts.append(arg)
        elif arg.startswith("--runmode"):
            opts += ["--runmode", arg.partition("=")[2] or next(args)]
        else:
            missing.append(arg)
    if case.wants_ips and "--simulate-ips" not in case.args:
        opts.append("--simulate-ips")
    if case.suricata_yaml is None and not any("stream.midstream" in a for a in case.args):
        # The cases assume the stock configuration, whose stream.midstream is false;
        # spanwatch's own default is true (a SPAN sensor starts amid running sessions).
        opts += ["--set", "stream.midstream=false"]
    return opts, missing


def reference_argv(binary: str, case: VerifyCase, config: Path, out_dir: Path) -> list[str]:
    """Suricata as suricata-verify runs a case (see the corpus README)."""
    argv = [binary, *case.args, "--set", f"classification-file={CLASSIFICATION}",
            "--set", f"reference-config-file={REFERENCE_CONFIG}", "--init-errors-fatal",
            "-l", str(out_dir)]  # fmt: skip
    if case.wants_ips:
        argv.append("--simulate-ips")
    if case.suricata_yaml is None and not any("stream.midstream" in a for a in case.args):
        argv += ["--set", "stream.midstream=false"]  # as analyze is told (analyze_options)
    if not any(arg.startswith("--runmode") for arg in case.args):
        argv += ["--runmode", "single"]  # analyze's default
    argv += ["-c", str(config), "-r", str(case.pcap)]
    return argv + (["-S", str(case.rules)] if case.rules else ["--disable-detection"])


def write_appliance_config(path: Path, data_dir: Path) -> Path:
    """An appliance.yaml with only this case's data and no rules of its own."""
    # No analyzers: their findings are records Suricata did not write (they have tests
    # of their own, on these same captures).
    data = {"sensor": {"name": "verify"}, "data_dir": str(data_dir),
            "rules": {"local": [], "sources": []},
            "analyzers": {name: {"enabled": False} for name in REGISTRY}}  # fmt: skip
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- running -----------------------------------------------------------------------------


def run_case(case: VerifyCase, binary: str, work: Path, capsys: Any) -> CaseRun:
    """Run analyze and, side by side, the reference Suricata with analyze's configuration."""
    data_dir, ref_dir = work / "data", work / "reference"
    for sub in (render.PCAP_DIR, render.FILES_DIR):
        (ref_dir / sub).mkdir(parents=True)
    appliance_yaml = write_appliance_config(work / "appliance.yaml", data_dir)
    (work / "empty.rules").write_text("", encoding="utf-8")
    env = {**os.environ, "TZ": "UTC", **case.env}
    analyzed = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        reference = pool.submit(_run_reference, binary, case, data_dir, ref_dir, env, analyzed)
        try:
            code, output = _run_analyze(case, appliance_yaml, data_dir, env, capsys)
        finally:
            analyzed.set()
        ref_code = reference.result(timeout=120)
    run_dirs = sorted((data_dir / "runs").glob("*"))
    assert len(run_dirs) == 1, f"expected one analyze run, found {run_dirs}"
    assert ref_code == 0, (ref_dir / "suricata.stdout").read_text(errors="replace")
    summary = json.loads(output) if code == 0 else None
    # The store against the eve.json analyze's own Suricata wrote: two runs of Suricata on
    # one capture may differ (a flow logged at timeout in one, at shutdown in the other).
    # The side run above shows analyze's configuration runs the case as suricata-verify does.
    reference = _read_eves([run_dirs[0] / "0" / name for name in _eve_names(case)])
    return CaseRun(case, code, output, summary, _stored(data_dir), reference,
                   _other_eve_files(run_dirs[0] / "0"))  # fmt: skip


def _run_reference(binary: str, case: VerifyCase, data_dir: Path, ref_dir: Path,
                   env: Mapping[str, str], analyzed: threading.Event) -> int | None:  # fmt: skip
    """Suricata on the case, once the configuration analyze uses is known.

    That is the case's own suricata.yaml, or the one analyze renders into its run
    folder before it starts its Suricata (written atomically, so it is whole once seen).
    """
    config = case.suricata_yaml
    while config is None:
        config = next(iter((data_dir / "runs").glob("*/suricata.yaml")), None)
        if config is None and analyzed.wait(0.01):
            config = next(iter((data_dir / "runs").glob("*/suricata.yaml")), None)
            if config is None:
                return None
    with open(ref_dir / "suricata.stdout", "wb") as log:
        return subprocess.run(reference_argv(binary, case, config, ref_dir), cwd=case.directory,
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=120).returncode  # fmt: skip


def _analyze_argv(case: VerifyCase, appliance_yaml: Path, data_dir: Path) -> list[str]:
    """analyze's argv for the case (run from the test's working directory, not the case's)."""
    opts, _missing = analyze_options(case)
    argv = ["analyze", "--config", str(appliance_yaml), "--data-dir", str(data_dir),
            "--json", "-q", *opts]  # fmt: skip
    # analyze has no --disable-detection; an empty rule file is the nearest thing.
    argv += ["--rules", str(case.rules or data_dir.parent / "empty.rules")]
    if case.suricata_yaml:
        argv += ["--suricata-config", str(case.suricata_yaml)]
    return argv + [str(case.pcap)]


def _run_analyze(case: VerifyCase, appliance_yaml: Path, data_dir: Path,
                 env: Mapping[str, str], capsys: Any) -> tuple[int, str]:  # fmt: skip
    argv = _analyze_argv(case, appliance_yaml, data_dir)
    if case.name in SUBPROCESS_CASES:
        proc = subprocess.run(cli.spanwatch_argv(*argv), capture_output=True, text=True,
                              env=dict(env), timeout=300)  # fmt: skip
        return proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            if os.environ.get(name) != value:
                mp.setenv(name, value)
        capsys.readouterr()
        code = spanwatch_main(argv)
        captured = capsys.readouterr()
    return code, captured.out if code == 0 else captured.err


def _eve_names(case: VerifyCase) -> list[str]:
    """The EVE files analyze ingests: eve.json, or every eve-log file of the case's config."""
    if case.suricata_yaml is None:
        return ["eve.json"]
    return eve_filenames(case.suricata_yaml) or ["eve.json"]


def _read_eves(paths: list[Path]) -> list[dict[str, Any]]:
    """:func:`_read_eve` of several files; a line of a later file written the same into an
    earlier one is one record (sensors.evefiles). (Within a file, each line is a record.)"""
    seen: set[bytes] = set()
    out = []
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_bytes().split(b"\n")
        out += [redact_credentials(decode_line(line, 0)).data
                for line in lines if line.strip() and line not in seen]  # fmt: skip
        seen.update(lines)
    return out


def _read_eve(path: Path) -> list[dict[str, Any]]:
    """Suricata's records as the store must hold them: with passwords redacted."""
    if not path.exists():
        return []
    with open(path, "rb") as handle:
        return [redact_credentials(decode_line(line.rstrip(b"\n"), 0)).data
                for line in handle if line.strip()]  # fmt: skip


def _other_eve_files(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return {p.name: _read_eve(p) for p in out_dir.glob("*.json") if p.name != "eve.json"}


def _stored(data_dir: Path) -> list[dict[str, Any]]:
    store = open_store(data_dir / "spanwatch.db", readonly=True)
    try:
        return [{k: v for k, v in r.items() if k != "_id"} for r in store.events(EventQuery())]
    finally:
        store.close()


# -- tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def verify_runs() -> dict[str, CaseRun]:
    """Each case's runs, shared by its two tests so that each case is run once."""
    return {}


@pytest.fixture(scope="session")
def build_features_of(suricata_bin: str) -> frozenset[str]:
    """Features of this Suricata build, for ``requires: features``."""
    info = subprocess.run([suricata_bin, "--build-info"], capture_output=True, text=True)
    return build_features(info.stdout)


@pytest.fixture
def case_run(case: VerifyCase, verify_runs: dict[str, CaseRun], suricata_bin: str,
             tmp_path_factory: pytest.TempPathFactory, capsys: Any,
             build_features_of: frozenset[str]) -> CaseRun:  # fmt: skip
    """The case's runs, made on first use."""
    gate = unmet_requirement(case.requires, features=build_features_of)
    if gate:
        pytest.skip(gate)
    if case.name not in verify_runs:
        work = tmp_path_factory.mktemp("verify-" + case.name.replace("/", "-"))
        verify_runs[case.name] = run_case(case, suricata_bin, work, capsys)
    run = verify_runs[case.name]
    assert run.exit_code == 0, f"spanwatch analyze failed:\n{run.output}"
    return run


def _params(gaps: Mapping[str, tuple[str, bool]]) -> list[Any]:
    """One param per case; a case with a known gap is an xfail."""
    params = []
    for case in CASES:
        gap = gaps.get(case.name)
        marks = [pytest.mark.xfail(reason=gap[0], strict=gap[1])] if gap else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


_RECORD = {
    "event_type": "alert",
    "alert": {"signature_id": 7, "metadata": {"tag": ["a", "b"]}},
    "dns": {"answers": [{"rrname": "www.example.com", "ttl": 58}]},
    "flow": None,
}


@pytest.mark.parametrize("match, expected", [
    ({"alert.signature_id": 7, "alert.metadata.tag[1]": "b"}, True),
    ({"alert.signature_id": 7.0}, True),
    ({"alert.signature_id": True}, False),
    ({"alert.metadata.tag[2]": "c"}, False),
    ({"alert.metadata.tag.__len": 2, "dns.answers[0].rrname.__len": 15}, True),
    ({"alert.nothing.__len": -1}, True),
    ({"dns.answers[0].rrname.__find": "example"}, True),
    ({"dns.answers[0].rrname.__startswith": "www.", "dns.answers[0].rrname.__endswith": ".com"},
     True),
    ({"alert.metadata.tag.__contains": "a"}, True),
    ({"alert.metadata.tag.__contains": "c"}, False),
    ({"dns.answers[0].ttl.__gt": 57, "dns.answers[0].ttl.__lte": 58}, True),
    ({"dns.answers[0].ttl.__lt": 58}, False),
    ({"dns.answers[0].rrname.__gte": 1}, False),
    ({"has-key": "alert.metadata.tag"}, True),
    ({"has-key": "flow"}, False),
    ({"not-has-key": "flow"}, True),
    ({"dns": {"answers": [{"rrname": "www.example.com", "ttl": 58}]}}, True),
    ({"dns": {"answers": [{"rrname": "www.example.com"}]}}, False),
])  # fmt: skip
def test_filter_semantics(match: dict[str, Any], expected: bool) -> None:
    assert record_matches(_RECORD, match) is expected


@pytest.mark.parametrize("requires, reason", [
    ({"min-version": 7}, None),
    ({"min-version": "7.0.10"}, None),
    ({"min-version": "7.0.11"}, "needs Suricata >= 7.0.11"),
    ({"min-version": 8}, "needs Suricata >= 8"),
    ({"lt-version": 8}, None),
    ({"lt-version": "7.0.10"}, "needs Suricata < 7.0.10"),
    ({"version": "7.0"}, None),
    ({"version": 6}, "only for Suricata 6"),
    ({"features": ["HAVE_JA3"]}, None),
    ({"features": ["HAVE_NOPE"]}, "needs build features HAVE_NOPE"),
])  # fmt: skip
def test_requirement_gating(requires: dict[str, Any], reason: str | None) -> None:
    assert unmet_requirement(requires, version=(7, 0, 10), features={"HAVE_JA3"}) == reason


def test_corpus_has_all_cases() -> None:
    assert len(CASES) == 145, f"expected the 145 curated cases under {CORPUS}"


def test_case_inputs_match_the_corpus_index() -> None:
    """Our reading of each folder agrees with RESULTS-7.0.10.csv (rules, config, args)."""
    with open(CORPUS / "RESULTS-7.0.10.csv", newline="", encoding="utf-8") as handle:
        index = {row["test"]: row for row in csv.DictReader(handle)}
    assert set(index) == {case.name for case in CASES}
    for case in CASES:
        row = index[case.name]
        rules = (os.path.relpath(case.rules.resolve(), case.directory.resolve())
                 if case.rules else "")  # fmt: skip
        assert rules == row["rules_file"], case.name
        assert (case.suricata_yaml is not None) == (row["own_suricata_yaml"] == "yes"), case.name
        assert " ".join(case.args) == row["extra_args"], case.name


def test_analyze_lacks_only_the_known_options() -> None:
    """The case args analyze cannot express; STORE_GAPS and CHECK_GAPS name their effects."""
    missing = {arg for case in CASES for arg in analyze_options(case)[1]}
    assert missing == set()


@pytest.mark.suricata
@pytest.mark.parametrize("case", _params(STORE_GAPS))
def test_store_holds_suricata_eve_exactly(case_run: CaseRun) -> None:
    run = case_run
    stored, reference = run.stored, run.reference
    assert sid_counts(stored) == sid_counts(reference)
    assert run.summary is not None
    assert run.summary["total"]["alerts_by_sid"] == {
        str(sid): n for sid, n in sorted(sid_counts(reference).items())
    }
    assert type_counts(stored) == type_counts(reference)
    assert alert_keys(stored) == alert_keys(reference)
    canonical = functools.partial(canonical_record, detection=run.case.rules is not None)
    canon_stored = Counter(map(canonical, stored))
    canon_ref = Counter(map(canonical, reference))
    assert canon_stored == canon_ref, describe_difference(canon_stored, canon_ref)
    assert flow_groups(stored) == flow_groups(reference)


@pytest.mark.suricata
@pytest.mark.parametrize("case", _params(CHECK_GAPS))
def test_case_checks_hold_on_store(case_run: CaseRun, build_features_of: frozenset[str]) -> None:
    run = case_run
    results = evaluate_checks(run.case, run.stored, other_files=run.analyze_files,
                              features=build_features_of)  # fmt: skip
    failed = [f"check {r.index} ({r.kind}): {r.detail}" for r in results if r.status == "fail"]
    assert not failed, "\n".join(failed)
    assert any(r.status == "pass" for r in results) or not run.case.checks
