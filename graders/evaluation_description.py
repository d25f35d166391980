"""What an evaluation folder says about itself, so `cli.py grade RUN_OR_EVAL_DIR` can grade it later:

    <output_dir>/evaluation.json   the plan (every item), catalog, grader, grading and scoring settings
    <output_dir>/finished.json     written when the run that generates into the folder has ended

The evaluation callback writes `evaluation.json` at set-up (rank 0), removes `finished.json` then and writes
it when `fit` (or `validate`) ends, so a `grade --follow` beside a running job knows when to stop. The file
names environment variables, never keys: the grader is saved as its `ClientSettings`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from graders.cache import default_cache_path
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from skillmix.catalog import load_catalog
from skillmix.errors import InputError
from skillmix.evaluation.plan import EvalItem, EvalPlan
from skillmix.jsonl import write_json_atomically
from skillmix.metrics import ScoringOptions

DESCRIPTION_FILE = "evaluation.json"
FINISHED_FILE = "finished.json"
DESCRIPTION_FORMAT = "skillmix-lightning/evaluation/1"

Settings = TypeVar("Settings", ClientSettings, GradingSettings)


@dataclass(frozen=True)
class EvalDescription:
    """One evaluation as `grade` needs it: which items, graded how, aggregated how, under which run."""

    plan: EvalPlan
    skills_csv: str | None
    topics_txt: str | None
    run: str
    grader: ClientSettings
    grading: GradingSettings
    scoring: ScoringOptions
    fail_on_grading_errors: bool
    seen_in_training: dict[str, int]

    def save(self, output_dir: Path) -> None:
        """Write `evaluation.json`; the grader's cache is saved as a path, so `grade` reads the same one."""
        grader = self.grader
        if grader.cache is None and grader.cache_mode != "off":
            grader = replace(grader, cache=default_cache_path().resolve())
        document = {
            "format": DESCRIPTION_FORMAT,
            "run": self.run,
            "skills_csv": self.skills_csv,
            "topics_txt": self.topics_txt,
            "generation_template": self.plan.generation_template,
            "grader": _plain(asdict(grader)),
            "grading": asdict(self.grading),
            "scoring": asdict(self.scoring),
            "fail_on_grading_errors": self.fail_on_grading_errors,
            "seen_in_training": self.seen_in_training,
            "items": [
                [i.setting, i.k, i.combination_index, i.generation_round, list(i.skills), i.topic]
                for i in self.plan.items
            ],
        }
        write_json_atomically(output_dir / DESCRIPTION_FILE, document)


def load_description(output_dir: Path) -> EvalDescription:
    """The description saved in `output_dir`; errors name the file and the fix."""
    path = output_dir / DESCRIPTION_FILE
    if not path.is_file():
        raise InputError(
            f"{output_dir}: no {DESCRIPTION_FILE}, so the evaluation's plan and grader are unknown. It is "
            "written by the evaluation callback; for other generations grade a records file instead "
            "(`cli.py grade STEP/records.jsonl`)."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != DESCRIPTION_FORMAT:
            raise InputError(f"{path}: format {document.get('format')!r}, expected {DESCRIPTION_FORMAT!r}")
        catalog = load_catalog(document["skills_csv"], document["topics_txt"])
        items = tuple(
            EvalItem(setting, int(k), int(index), int(round_), tuple(skills), topic)
            for setting, k, index, round_, skills, topic in document["items"]
        )
        return EvalDescription(
            plan=EvalPlan(items, catalog, document["generation_template"]),
            skills_csv=document["skills_csv"],
            topics_txt=document["topics_txt"],
            run=document["run"],
            grader=_settings(ClientSettings, document["grader"]),
            grading=_settings(GradingSettings, document["grading"]),
            scoring=ScoringOptions(**document["scoring"]),
            fail_on_grading_errors=bool(document["fail_on_grading_errors"]),
            seen_in_training=dict(document["seen_in_training"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise InputError(f"{path}: unreadable ({reason}); restore it as written") from None


def overridden(recorded: Settings, given: Settings | None) -> Settings:
    """`recorded` with every field that `given` sets to other than its class default: a command line's
    `--client.concurrency 8` changes that field of the recorded grader and keeps the rest."""
    if given is None:
        return recorded
    default = type(given)()
    changes = {
        f.name: getattr(given, f.name)
        for f in fields(given)
        if getattr(given, f.name) != getattr(default, f.name)
    }
    return replace(recorded, **changes)


def mark_finished(output_dir: Path, steps: list[int]) -> None:
    write_json_atomically(output_dir / FINISHED_FILE, {"finished_at": time.time(), "steps": steps})


def clear_finished(output_dir: Path) -> None:
    (output_dir / FINISHED_FILE).unlink(missing_ok=True)


def is_finished(output_dir: Path) -> bool:
    return (output_dir / FINISHED_FILE).is_file()


def _settings(cls: type[Settings], values: dict[str, Any]) -> Settings:
    known = {f.name for f in fields(cls)}
    converted: dict[str, Any] = {
        name: Path(value) if name in ("cache", "prices") and value is not None else value
        for name, value in values.items()
        if name in known
    }
    return cls(**converted)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {name: str(value) if isinstance(value, Path) else value for name, value in values.items()}
