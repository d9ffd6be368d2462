"""The other EVE files of an analysis whose Suricata configuration writes several.

A ``suricata.yaml`` given to ``spanwatch analyze`` may split its EVE output over several
files: alerts in one, protocol records in another, stats in a third. The analysis follows
the first while Suricata reads the capture; once Suricata is done with it, each other
file is read whole through the same runner (with the EVE analyzers of this process), each
as a source of its own. A record written byte for byte the same into two of them (an
output that copies part of another, e.g. DNS answers of one type) is one event: it is
stored from the file that had it first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from appliance.config import AppConfig
from appliance.store import EventStore
from sensors.deadletter import DeadLetterFile
from sensors.runner import RunStats

logger = logging.getLogger(__name__)


def ingest_other_eve_files(cfg: AppConfig, store: EventStore, dead_letters: DeadLetterFile,
                           out_dir: Path, names: Sequence[str], stats: RunStats,
                           namespace: bytes) -> None:  # fmt: skip
    """Store the records of ``names[1:]`` (in ``out_dir``) that ``names[0]`` and the files
    before them do not hold; their work and sources are counted in ``stats`` (so that a
    failure discards them with the rest)."""
    from sensors.analyzers import load_analyzers
    from sensors.runner import EveRunner
    from sensors.ship import close_quietly, store_writer

    first = out_dir / names[0]
    seen = line_hashes(first) if first.is_file() else set()  # (none: the analysis fails)
    for name in dict.fromkeys(names[1:]):
        path = out_dir / name
        if path == first or not path.is_file():
            continue  # an output Suricata did not write (nothing of its types happened)
        here: set[int] = set()  # this file's lines, for the files after it

        def skip(raw: bytes) -> bool:
            line = hash(raw)
            here.add(line)
            return line in seen

        sink = store_writer(cfg.store_path, cfg.sensor.name)
        runner = EveRunner(
            path, store=store, sink=sink, analyzers=load_analyzers(cfg), dead_letters=dead_letters,
            # A file of its own even where it begins as the first does (the same record):
            # its fingerprint would make it a rotated copy, read on from the first's end.
            cfg=cfg.ingest, source_namespace=namespace + b"\0" + name.encode(), skip=skip,
        )  # fmt: skip
        try:
            runner.run()
            sink.close()
        except BaseException:
            close_quietly(sink)
            raise
        finally:
            stats.add(runner.stats)
        logger.info("Stored %d records of %s (%d were the same as records of an earlier EVE "
                    "file).", runner.stats.stored, path, runner.stats.skipped)  # fmt: skip
        seen |= here


def line_hashes(path: Path) -> set[int]:
    """Hashes of the lines of an EVE file (as the reader cuts them: at newlines)."""
    with open(path, "rb") as handle:
        return {hash(line.removesuffix(b"\n")) for line in handle}
