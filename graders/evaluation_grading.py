"""Grading one checkpoint's generations and aggregating its records into `metrics.json`: the step the
evaluation callback (rank 0) and `cli.py evaluate` share, through the graders' one grade-and-write loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from graders.grade_loop import GradingOutcome, grade_and_write
from graders.progress import RichProgress
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingItem, GradingSettings, generation_draw
from skillmix.catalog import Catalog
from skillmix.errors import InputError
from skillmix.evaluation.plan import EvalPlan
from skillmix.evaluation.reporting import metrics_document, summarize_records
from skillmix.evaluation.store import EvalFolder, item_key
from skillmix.metrics import ScoringOptions

log = logging.getLogger(__name__)


class GradingIncompleteError(InputError, RuntimeError):
    """Some generations could not be graded (their requests failed); re-running the evaluation grades them."""


async def grade_generations(
    generations: Sequence[dict[str, Any]],
    catalog: Catalog,
    client_settings: ClientSettings,
    settings: GradingSettings,
    write: Callable[[dict[str, Any]], None],
    progress: bool = False,
) -> GradingOutcome:
    """Grade every generation line, `write` each finished record; failed ones are left for the next run.
    With `progress`, a live line shows the gradings done, in flight, retried and failed, and the spend."""
    items = [
        GradingItem(
            catalog.skills_named(line["skills"]), line["topic"], line["answer"], generation_draw(line)
        )
        for line in generations
    ]
    with RichProgress("grading") if progress else nullcontext() as display:
        client = client_settings.build_client(display)
        grader = settings.build_grader(client)
        try:
            return await grade_and_write(grader, items, generations, write)
        finally:
            await client.aclose()


def grade_and_aggregate(
    plan: EvalPlan,
    folder: EvalFolder,
    *,
    grader: ClientSettings,
    grading: GradingSettings,
    scoring: ScoringOptions,
    run: str,
    step: int,
    checkpoint: str | None,
    fail_on_grading_errors: bool,
    seen_in_training: dict[str, int] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Grade what the folder's generations hold and its records lack, then write and return the metrics."""
    by_key = {item.key: item for item in plan.items}
    graded = folder.done(folder.records, by_key)
    to_grade = [line for key, line in folder.done(folder.generations, by_key).items() if key not in graded]
    failed, summary = 0, "nothing left to grade"
    if to_grade:
        log.info("grading %d generations with %s", len(to_grade), grader.model)
        outcome = asyncio.run(
            grade_generations(to_grade, plan.catalog, grader, grading, folder.records.append, progress)
        )
        failed, summary = outcome.failed, outcome.summary
        log.info("grading: %s", summary)
    records = sorted(folder.done(folder.records, by_key).values(), key=item_key)
    metrics = metrics_document(
        summarize_records(records, scoring),
        run=run,
        step=step,
        checkpoint=checkpoint,
        options=scoring,
        planned=len(plan.items),
        failed=failed,
        grading_summary=summary,
        seen_in_training=seen_in_training,
    )
    folder.write_metrics(metrics)
    if failed and fail_on_grading_errors:
        raise GradingIncompleteError(
            f"{failed} generations could not be graded (see the warnings above); their metrics in "
            f"{folder.metrics_path} are incomplete. Run the same evaluation again to grade them: nothing "
            "finished is redone and no answered request is sent again."
        )
    return metrics
