"""`python cli.py grade RUN_OR_EVAL_DIR [--follow]`: grade an evaluation's generations after the fact.

For runs whose callback had `grading_mode: deferred` (it only generated), or whose grading was cut short:
every step folder's generations without a record are graded with the grader and settings the evaluation
saved in `evaluation.json`, through the same `grade_and_aggregate` the callback uses, so the step's
`records.jsonl` and `metrics.json` are the ones the callback would have written. `--follow` grades new
steps and growing generation files as a running job writes them, until the job marks the folder finished.

Each step's metrics also go to `<eval dir>/metrics.csv` (one row per step, the callback's logged names):
the training process owns the run's own loggers, so this command writes beside them, never into them.
A kill loses no finished grading (records are appended one by one, responses cached); a re-run finishes
what was pending and sends no answered request again.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.evaluation_description import EvalDescription, is_finished, load_description, overridden
from graders.evaluation_grading import GradingIncompleteError, grade_and_aggregate
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from skillmix.errors import InputError
from skillmix.evaluation.reporting import headline
from skillmix.evaluation.store import EvalFolder
from skillmix.jsonl import write_text_atomically

log = logging.getLogger(__name__)

EVAL_SUBFOLDER = "skillmix_eval"
STEP_FOLDER = re.compile(r"step(\d+)")
METRICS_CSV = "metrics.csv"


def evaluation_folder(path: Path) -> Path | None:
    """`path/skillmix_eval` for a run folder, `path` itself for an evaluation folder, else None."""
    if (path / EVAL_SUBFOLDER).is_dir():
        return path / EVAL_SUBFOLDER
    if path.is_dir() and (any(step_folders(path)) or (path / "evaluation.json").is_file()):
        return path
    return None


def step_folders(eval_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `stepNNNNNN` folder, by step."""
    found = [
        (int(match[1]), child)
        for child in eval_dir.iterdir()
        if child.is_dir() and (match := STEP_FOLDER.fullmatch(child.name))
    ]
    return sorted(found)


@dataclass(frozen=True)
class RunGrading:
    """One evaluation folder, graded with the chosen grader."""

    eval_dir: Path
    description: EvalDescription
    grader: ClientSettings
    grading: GradingSettings

    def grade_pass(self) -> tuple[list[dict[str, Any]], list[GradingIncompleteError]]:
        """Grade every step with something new: the metrics written, and the steps' grading failures
        (each step is tried, whatever failed before it)."""
        written, failures = [], []
        for step, root in step_folders(self.eval_dir):
            try:
                metrics = self.grade_step(step, EvalFolder(root))
            except GradingIncompleteError as error:
                log.warning("step %d: %s", step, error)
                failures.append(error)
                continue
            if metrics is not None:
                written.append(metrics)
        return written, failures

    def grade_step(self, step: int, folder: EvalFolder) -> dict[str, Any] | None:
        """The step's metrics after grading what it lacks; None when nothing changed since its metrics."""
        by_key = {item.key: item for item in self.description.plan.items}
        generations = folder.done(folder.generations, by_key)
        if not generations:
            return None
        ungraded = generations.keys() - folder.done(folder.records, by_key).keys()
        if not ungraded and _newer(folder.metrics_path, folder.records.path):
            return None
        return grade_and_aggregate(
            self.description.plan,
            folder,
            grader=self.grader,
            grading=self.grading,
            scoring=self.description.scoring,
            run=self.description.run,
            step=step,
            checkpoint=next(iter(generations.values())).get("checkpoint"),
            fail_on_grading_errors=self.description.fail_on_grading_errors,
            seen_in_training=self.description.seen_in_training,
        )


def grade_run(
    eval_dir: Path,
    client: ClientSettings | None,
    grading: GradingSettings | None,
    follow: bool,
    poll_seconds: float,
) -> None:
    """Grade the evaluation folder (once, or following a running job), print and log each step's metrics."""
    description = load_description(eval_dir)
    grader, settings = overridden(description.grader, client), overridden(description.grading, grading)
    run = RunGrading(eval_dir, description, grader, settings)
    _refuse_another_grader(run)
    log.info(
        "grading %s with %s:%s, %d rounds, template %s: the evaluation's own grader and settings (from "
        "evaluation.json), with any --client/--grading fields you set",
        eval_dir,
        run.grader.provider,
        run.grader.model,
        run.grading.rounds,
        run.grading.template,
    )
    table = MetricsTable(eval_dir / METRICS_CSV)
    while True:
        final = not follow or is_finished(eval_dir)
        written, failures = run.grade_pass()
        for metrics in written:
            sys.stdout.write(headline(metrics) + "\n")
            table.add(metrics["step"], metrics["logged"])
        if final and failures:  # a following pass retries them; the last one stops with the first
            raise failures[0]
        if final:
            break
        time.sleep(poll_seconds)
    sys.stdout.write(f"Compare the steps: python cli.py compare {eval_dir}\n")


def _refuse_another_grader(run: RunGrading) -> None:
    recorded = run.description.grader
    if (run.grader.provider, run.grader.model) == (recorded.provider, recorded.model):
        return
    if any((root / "records.jsonl").is_file() for _, root in step_folders(run.eval_dir)):
        raise InputError(
            f"{run.eval_dir} is graded by {recorded.provider}:{recorded.model}; its records.jsonl files "
            f"would mix in {run.grader.provider}:{run.grader.model}. Fix: to re-grade with another model, "
            "grade a step's records file (`cli.py grade STEP/records.jsonl --client.model ...`): it writes "
            "beside it."
        )


class MetricsTable:
    """`metrics.csv`: step, then every logged metric name; a step graded again replaces its row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[int, dict[str, float]] = {}
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    step = int(row.pop("step"))
                    self.rows[step] = {name: float(value) for name, value in row.items() if value}

    def add(self, step: int, logged: dict[str, float]) -> None:
        self.rows[step] = dict(logged)
        names = sorted({name for row in self.rows.values() for name in row})
        text = io.StringIO()
        writer = csv.DictWriter(text, ["step", *names], lineterminator="\n")
        writer.writeheader()
        for row_step in sorted(self.rows):
            writer.writerow({"step": row_step, **self.rows[row_step]})
        write_text_atomically(self.path, text.getvalue())


def _newer(path: Path, than: Path) -> bool:
    return path.is_file() and (not than.is_file() or path.stat().st_mtime_ns >= than.stat().st_mtime_ns)
