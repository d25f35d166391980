"""The files of a generation run, and how they survive a crash.

Per k, in the output folder: `d{k}.jsonl` (kept examples, the D(k) schema of docs/data.md plus grading
metadata), `d{k}.rejects.jsonl` (everything else, with the reason), `d{k}.run.json` (the settings that
define the data, checked on resume) and the shared `splits.json` and `summary.json`.

While a run works, every finished combination is appended to one of the two JSONL files and flushed, so
a killed run loses at most the line being written. Starting (and finishing) a run rewrites both files
from their contents: one line per id, in plan order, identical answers reduced to the first in plan order.
That makes the finished files depend only on what was generated, not on how often the run was interrupted
or in which order concurrent requests happened to finish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import InputError
from skillmix.jsonl import JsonlAppender, iter_jsonl, write_jsonl_atomically

logger = logging.getLogger(__name__)

Record = dict[str, Any]

RETRYABLE_REASONS = frozenset({"teacher_error", "grader_error"})
"""Rejects that are not a verdict on a text: the next run of the same command tries them again."""


class OutputFileError(InputError):
    """An output file that cannot be resumed from; the message names file, line and fix."""


@dataclass(frozen=True)
class OutputFiles:
    root: Path
    k: int

    @property
    def kept(self) -> Path:
        return self.root / f"d{self.k}.jsonl"

    @property
    def rejects(self) -> Path:
        return self.root / f"d{self.k}.rejects.jsonl"

    @property
    def run_config(self) -> Path:
        return self.root / f"d{self.k}.run.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def answer_key(answer: str) -> str:
    """Identical answers up to case and whitespace share a key."""
    return " ".join(answer.lower().split())


def read_records(path: Path) -> list[Record]:
    """The lines of a JSONL output file (a torn last line is skipped: the run generates it again)."""
    records = []
    for number, record in iter_jsonl(
        path,
        fix="delete that line; the run will generate it again (from the response cache)",
        error=OutputFileError,
    ):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise OutputFileError(f"{path}:{number}: a record needs a string 'id'. Fix: delete that line")
        records.append(record)
    return records


def load_outcomes(files: OutputFiles) -> dict[str, Record]:
    """id -> its outcome so far. A verdict (kept, or rejected for its text) beats a retryable error; the
    later of two lines of the same kind wins."""
    outcomes: dict[str, Record] = {}
    for record in [*read_records(files.kept), *read_records(files.rejects)]:
        previous = outcomes.get(record["id"])
        if previous is None or is_retryable(previous) or not is_retryable(record):
            outcomes[record["id"]] = record
    return outcomes


def is_retryable(record: Record) -> bool:
    return record.get("reason") in RETRYABLE_REASONS


def resolve_duplicates(outcomes: Iterable[Record], order: Mapping[str, int]) -> list[Record]:
    """All outcomes in plan order, where of several full-marks texts with the same answer only the first
    in plan order stays kept; the others become `duplicate` rejects naming it."""
    ranked = sorted(outcomes, key=lambda r: (order.get(r["id"], len(order)), r["id"]))
    first_with: dict[str, str] = {}
    resolved = []
    for record in ranked:
        if record.get("reason") in (None, "duplicate"):
            key = answer_key(record["answer"])
            record = {key_: value for key_, value in record.items() if key_ not in ("reason", "duplicate_of")}
            if key in first_with:
                record |= {"reason": "duplicate", "duplicate_of": first_with[key]}
            else:
                first_with[key] = record["id"]
        resolved.append(record)
    return resolved


def rewrite(files: OutputFiles, outcomes: Mapping[str, Record], order: Mapping[str, int]) -> list[Record]:
    """Write both JSONL files from `outcomes` (atomically each); returns the resolved records."""
    resolved = resolve_duplicates(outcomes.values(), order)
    write_jsonl_atomically(files.kept, [r for r in resolved if "reason" not in r])
    write_jsonl_atomically(files.rejects, [r for r in resolved if "reason" in r])
    return resolved


class AppendingWriter:
    """Appends each finished combination to the kept or rejects file, durably."""

    def __init__(self, files: OutputFiles) -> None:
        self._kept = JsonlAppender(files.kept)
        self._rejects = JsonlAppender(files.rejects)

    def write(self, record: Record) -> None:
        (self._rejects if "reason" in record else self._kept).append(record)
