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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillmix.answers import extract_answer
from skillmix.errors import InputError
from skillmix.evaluation.plan import EvalItem, ItemKey
from skillmix.jsonl import JsonlAppender, iter_jsonl, write_json_atomically
from skillmix.splits import Splits

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


def pending_indices(folder: EvalFolder, items: Sequence[EvalItem]) -> list[int]:
    """Indices (into `items`) of the items with neither a generation nor a record in the folder."""
    by_key = {item.key: item for item in items}
    done = folder.done(folder.generations, by_key).keys() | folder.done(folder.records, by_key).keys()
    return [i for i, item in enumerate(items) if item.key not in done]


def generation_line(
    item: EvalItem,
    messages: list[dict[str, str]],
    *,
    run: str,
    step: int,
    checkpoint: str | None,
    seed: int,
    student: dict[str, Any],
) -> dict[str, Any]:
    """One line of `generations.jsonl`: the item, who answered and how (`student`), and the conversation."""
    return {
        "format": RECORD_FORMAT,
        "run": run,
        "step": step,
        "checkpoint": checkpoint,
        "setting": item.setting,
        "k": item.k,
        "combination_index": item.combination_index,
        "generation_round": item.generation_round,
        "skills": list(item.skills),
        "topic": item.topic,
        "seed": seed,
        "student": student,
        "messages": messages,
        "answer": extract_answer(messages[-1]["content"]),
    }


def save_splits(splits: Splits, path: Path) -> None:
    """Keep the evaluation's skill/topic pools beside its outputs; a folder made with other pools refuses."""
    if path.is_file() and Splits.load(path) != splits:
        raise InputError(
            f"{path} holds another split than this evaluation's. Fix: pass `splits: {path}` to evaluate "
            "on the same pools as before, or choose a new `output_dir`."
        )
    splits.save(path)
