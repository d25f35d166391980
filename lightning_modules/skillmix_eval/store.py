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

import json
import logging
import os
from pathlib import Path
from typing import Any

from lightning_modules.skillmix_eval.plan import EvalItem, ItemKey
from skillmix.errors import InputError

log = logging.getLogger(__name__)

RECORD_FORMAT = "skillmix-lightning/eval-record/1"


class EvalFolderError(InputError):
    """Existing outputs that do not belong to this evaluation; the message names file, line and fix."""


def step_folder(output_dir: Path, step: int) -> Path:
    return output_dir / f"step{step:06d}"


class JsonlLog:
    """Append-only JSONL with durable appends."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, line: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_line()
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _drop_torn_line(self) -> None:
        """Cut off a last line that a crash left half written (its item is redone), so appends stay valid."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            log.warning("%s: dropping a half-written last line", self.path)
            with self.path.open("rb+") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").split("\n")
        rows = []
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError as error:
                if number == len(lines):  # no newline after it: the write was cut short by a crash
                    log.warning("%s, line %d: ignoring a half-written last line", self.path, number)
                    continue
                raise EvalFolderError(
                    f"{self.path}, line {number}: not valid JSON ({error}). Fix: delete that line; its item "
                    "is then generated or graded again."
                ) from None
        return rows


class EvalFolder:
    """The outputs of one checkpoint's evaluation, and what is already done there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generations = JsonlLog(root / "generations.jsonl")
        self.records = JsonlLog(root / "records.jsonl")
        self.metrics_path = root / "metrics.json"

    def done(self, log_: JsonlLog, items: dict[ItemKey, EvalItem]) -> dict[ItemKey, dict[str, Any]]:
        """Lines of `log_` by item, checked against the plan (same combination under the same identity)."""
        found: dict[ItemKey, dict[str, Any]] = {}
        for number, line in enumerate(log_.read(), start=1):
            key = item_key(line)
            item = items.get(key)
            if item is None:
                continue  # outside this plan (e.g. a k no longer evaluated): kept on disk, not used
            if tuple(line["skills"]) != item.skills or line["topic"] != item.topic:
                raise EvalFolderError(
                    f"{log_.path}, entry {number}: {key} was made for skills {line['skills']} / topic "
                    f"{line['topic']!r}, but this evaluation draws {list(item.skills)} / {item.topic!r} "
                    "(another seed, catalog or split). Fix: set a new `output_dir`, or restore the settings."
                )
            found.setdefault(key, line)
        return found

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.metrics_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        temporary.replace(self.metrics_path)


def item_key(line: dict[str, Any]) -> ItemKey:
    return line["setting"], int(line["k"]), int(line["combination_index"]), int(line["generation_round"])
