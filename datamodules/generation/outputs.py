"""The files of a generation run, how they survive a crash, and what the run reports about them.

Per k, in the output folder: `d{k}.jsonl` (kept examples, the D(k) schema of docs/data.md plus grading
metadata), `d{k}.rejects.jsonl` (everything else, with the reason), `d{k}.run.json` (the settings that
define the data, checked on resume) and the shared `splits.json` and `summary.json`.

While a run works, every finished combination is appended to one of the two JSONL files and flushed, so
a killed run loses at most the line being written. Starting (and finishing) a run rewrites both files
from their contents: one line per id, in plan order, identical answers reduced to the first in plan order.
That makes the finished files depend only on what was generated, not on how often the run was interrupted
or in which order concurrent requests happened to finish.

The summary holds, per k, how many combinations were generated and kept, why the rest were rejected, the
tokens the data set consumed and its list-price cost, and what the last invocation itself did; a live
progress line shows the same while the run works.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.client import ModelClient
from graders.interface import Usage
from graders.progress import StatusLine
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


def list_price_costs(
    teacher: ModelClient,
    grader: ModelClient,
    teacher_usage: Usage,
    grader_usage: Usage,
    *,
    batch: bool = False,
) -> dict[str, float | None]:
    """List-price dollars of each side's tokens and their total (None where an API model has no price; a
    local model costs 0)."""
    sides = {
        "teacher": teacher.list_price(teacher_usage, batch=batch),
        "grader": grader.list_price(grader_usage, batch=batch),
    }
    known = [value for value in sides.values() if value is not None]
    return sides | {"total": sum(known) if len(known) == len(sides) else None}


def data_summary(
    k: int, planned: int, records: Sequence[Record], teacher: ModelClient, grader: ModelClient
) -> dict[str, Any]:
    """Totals over every record of D(k), whichever invocation produced it (tokens as first paid for)."""
    kept = sum("reason" not in r for r in records)
    reasons = Counter(r["reason"] for r in records if "reason" in r)
    generated = len(records) - reasons["teacher_error"]
    usage = {"teacher": Usage(), "grader": Usage()}
    for record in records:
        for side, tokens in record.get("usage", {}).items():
            usage[side] += Usage(**tokens)
    return {
        "k": k,
        "planned": planned,
        "finished": len(records) - reasons["teacher_error"] - reasons["grader_error"],
        "generated": generated,
        "kept": kept,
        "kept_rate": kept / generated if generated else None,
        "rejected": dict(sorted(reasons.items())),
        "teacher": teacher.identity,
        "grader": grader.identity,
        "tokens": {side: u.to_dict() for side, u in usage.items()},
        "estimated_cost_usd": list_price_costs(teacher, grader, usage["teacher"], usage["grader"]),
        "cost_note": "list prices of on-demand calls; requests answered through a Batch API cost half",
    }


def invocation_summary(
    stopped: str, teacher: ModelClient, grader: ModelClient, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """What this one command did: calls made, cache hits, retries, failures, spend."""
    if grader is teacher:
        clients = {"teacher_and_grader": teacher.stats.to_dict()}
    else:
        clients = {"teacher": teacher.stats.to_dict(), "grader": grader.stats.to_dict()}
    return {"stopped": stopped, **clients, **extra}


class GenerationProgress(StatusLine):
    """Use as a context manager; call `show` whenever a combination finishes."""

    def show(self, done: int, kept: int, rejected: int, calls: int, spent: str, in_flight: str = "") -> None:
        flight = f" | in flight {in_flight}" if in_flight else ""
        self.update(done, f"kept {kept} | rejected {rejected} | calls {calls}{flight} | spent {spent}")
