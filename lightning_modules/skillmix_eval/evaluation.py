"""One checkpoint's SKILL-MIX evaluation across ranks: resume, generate (all ranks), grade and aggregate
(rank 0), share the metrics (all ranks).

    rank 0                         every rank                                  rank 0
    read what the folder holds ->  generate its batches in lockstep rounds ->  append generations,
    broadcast what is left         gather each round to rank 0                 grade, write records,
                                                                               aggregate, write metrics
    ...then every rank receives rank 0's metrics (or its error) through the long-timeout wait group.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from graders.settings import ClientSettings
from lightning_modules.skillmix_eval.distributed import RankGroup, batches, lockstep_rounds
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from lightning_modules.skillmix_eval.grading import (
    GradingSettings,
    grade_and_aggregate,
)
from skillmix.evaluation.plan import EvalItem, EvalPlan
from skillmix.evaluation.store import EvalFolder, generation_line, pending_indices, step_folder
from skillmix.metrics import ScoringOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalContext:
    """Everything about an evaluation that does not change from checkpoint to checkpoint."""

    plan: EvalPlan
    output_dir: Path
    run: str
    seed: int
    batch_size: int
    student: StudentSampling
    student_model: str
    grader: ClientSettings
    grading: GradingSettings
    scoring: ScoringOptions
    fail_on_grading_errors: bool


def batch_seed(seed: int, batch_index: int) -> int:
    """The sampling seed of one generation batch (turn 2 uses it + 1)."""
    digest = hashlib.sha256(f"skillmix-eval-batch/{seed}/{batch_index}".encode()).digest()
    return int.from_bytes(digest[:7], "big") * 2


def evaluate_checkpoint(
    context: EvalContext,
    group: RankGroup,
    generator: BatchGenerator,
    step: int,
    checkpoint: str | None,
) -> dict[str, Any]:
    """Run (or finish) the evaluation of the model as it is now; every rank returns the metrics document."""
    folder = EvalFolder(step_folder(context.output_dir, step))
    pending_indices = group.from_main(_pending_generation(context, folder) if group.is_main else None)
    pending = [context.plan.items[i] for i in pending_indices]
    _generate(context, group, generator, folder, pending, step, checkpoint)
    outcome: dict[str, Any] | None = None
    if group.is_main:
        try:
            outcome = {"metrics": _grade_and_aggregate(context, folder, step, checkpoint), "error": None}
        except BaseException as error:  # the other ranks must hear of it, or they wait for the timeout
            group.from_main({"metrics": None, "error": f"{type(error).__name__}: {error}"})
            raise
    shared = group.from_main(outcome)
    if shared["error"] is not None:
        raise RuntimeError(f"the SKILL-MIX evaluation failed on rank 0: {shared['error']}")
    return shared["metrics"]


def _pending_generation(context: EvalContext, folder: EvalFolder) -> list[int]:
    """Indices (into the plan) of the items with neither a generation nor a record in the folder."""
    pending = pending_indices(folder, context.plan.items)
    log.info(
        "SKILL-MIX evaluation in %s: %d of %d generations already done",
        folder.root,
        len(context.plan.items) - len(pending),
        len(context.plan.items),
    )
    return pending


def _generate(
    context: EvalContext,
    group: RankGroup,
    generator: BatchGenerator,
    folder: EvalFolder,
    pending: list[EvalItem],
    step: int,
    checkpoint: str | None,
) -> None:
    work = batches(pending, context.batch_size)
    if not work:
        return
    stand_in = [context.plan.user_turns(pending[0])]
    for round_number, batch_index in enumerate(lockstep_rounds(len(work), group.world_size, group.rank)):
        if batch_index is None:
            generator.two_turns(stand_in, batch_seed(context.seed, -1))
            lines = []
        else:
            batch = work[batch_index]
            conversations = generator.two_turns(
                [context.plan.user_turns(item) for item in batch], batch_seed(context.seed, batch_index)
            )
            lines = [
                _generation_line(context, item, conversation, step, checkpoint) | {"rank": group.rank}
                for item, conversation in zip(batch, conversations, strict=True)
            ]
        gathered = group.gather_to_main(lines)
        if gathered is not None:
            for rank_lines in gathered:
                for line in rank_lines:
                    folder.generations.append(line)
            log.info("generated round %d: %d batches of %d", round_number + 1, group.world_size, len(work))


def _generation_line(
    context: EvalContext,
    item: EvalItem,
    conversation: list[dict[str, str]],
    step: int,
    checkpoint: str | None,
) -> dict[str, Any]:
    student = {
        "model": context.student_model,
        "generation_template": context.plan.generation_template,
        **asdict(context.student),
    }
    return generation_line(
        item,
        conversation,
        run=context.run,
        step=step,
        checkpoint=checkpoint,
        seed=context.seed,
        student=student,
    )


def _grade_and_aggregate(
    context: EvalContext, folder: EvalFolder, step: int, checkpoint: str | None
) -> dict[str, Any]:
    return grade_and_aggregate(
        context.plan,
        folder,
        grader=context.grader,
        grading=context.grading,
        scoring=context.scoring,
        run=context.run,
        step=step,
        checkpoint=checkpoint,
        fail_on_grading_errors=context.fail_on_grading_errors,
    )
