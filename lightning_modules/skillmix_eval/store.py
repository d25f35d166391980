"""One checkpoint's evaluation folder: generations and graded records as append-only JSONL, and metrics.

    <output_dir>/step000400/generations.jsonl   one line per generated item (two-turn conversation)
    <output_dir>/step000400/records.jsonl       one line per graded item (the generation + its gradings)
    <output_dir>/step000400/metrics.json        the aggregate, rewritten whenever the evaluation finishes

Every line is flushed and fsync'ed as it is written, so a killed run loses only the work that was in flight.
Resuming reads both files and skips every item they already hold; items are matched by their identity
(setting, k, combination index, generation round), never by line position. A crash can leave the last line
half written: it is ignored with a warning and its item is redone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_modules.skillmix_eval.plan import EvalItem, ItemKey
from skillmix.errors import InputError
from skillmix.jsonl import JsonlAppender, iter_jsonl, write_json_atomically

RECORD_FORMAT = "skillmix-lightning/eval-record/1"


class EvalFolderError(InputError):
    """Existing outputs that do not belong to this evaluation; the message names file, line and fix."""


def step_folder(output_dir: Path, step: int) -> Path:
    return output_dir / f"step{step:06d}"


class EvalFolder:
    """The outputs of one checkpoint's evaluation, and what is already done there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generations = JsonlAppender(root / "generations.jsonl")
        self.records = JsonlAppender(root / "records.jsonl")
        self.metrics_path = root / "metrics.json"

    def done(self, log: JsonlAppender, items: dict[ItemKey, EvalItem]) -> dict[ItemKey, dict[str, Any]]:
        """Lines of `log` by item, checked against the plan (same combination under the same identity)."""
        found: dict[ItemKey, dict[str, Any]] = {}
        for number, line in iter_jsonl(log.path, error=EvalFolderError):
            key = item_key(line)
            item = items.get(key)
            if item is None:
                continue  # outside this plan (e.g. a k no longer evaluated): kept on disk, not used
            if tuple(line["skills"]) != item.skills or line["topic"] != item.topic:
                raise EvalFolderError(
                    f"{log.path}:{number}: {key} was made for skills {line['skills']} / topic "
                    f"{line['topic']!r}, but this evaluation draws {list(item.skills)} / {item.topic!r} "
                    "(another seed, catalog or split). Fix: set a new `output_dir`, or restore the settings."
                )
            found.setdefault(key, line)
        return found

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json_atomically(self.metrics_path, metrics)


def item_key(line: dict[str, Any]) -> ItemKey:
    return line["setting"], int(line["k"]), int(line["combination_index"]), int(line["generation_round"])
