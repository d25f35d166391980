"""One checkpoint's SKILL-MIX evaluation across ranks: resume, generate (all ranks), grade and aggregate
(rank 0), share the metrics (all ranks).

    rank 0                         every rank                                  rank 0
    read what the folder holds ->  generate its batches in lockstep rounds ->  append generations,
    broadcast the batches left     gather each round to rank 0                 grade, write records,
                                                                               aggregate, write metrics
    ...then every rank receives rank 0's metrics (or its error) through the long-timeout wait group.

The plan is cut into fixed batches, each with a seed of its own (`batch_seed` of its index in the plan), so a
resumed evaluation regenerates a half-written batch exactly as the first attempt did.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.progress import StatusLine
from graders.settings import ClientSettings
from lightning_modules.skillmix_eval.distributed import RankGroup, batches, lockstep_rounds
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from lightning_modules.skillmix_eval.grading import GradingSettings, grade_and_aggregate
from skillmix.evaluation.plan import EvalItem, EvalPlan, ItemKey
from skillmix.evaluation.store import EvalFolder, generation_line, item_key, step_folder
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
    seen_in_training: dict[str, int] = field(default_factory=dict)
    """Per "<setting>/k<k>": planned combinations that the training files also hold."""
    progress: bool = False
    """Live progress on rank 0: generation batches, and the gradings of inline grading."""


def batch_seed(seed: int, batch_index: int) -> int:
    """The sampling seed of one generation batch (turn 2 uses it + 1)."""
    digest = hashlib.sha256(f"skillmix-eval-batch/{seed}/{batch_index}".encode()).digest()
    return int.from_bytes(digest[:7], "big") * 2


def grade_and_share(
    context: EvalContext, group: RankGroup, step: int, checkpoint: str | None
) -> dict[str, Any]:
    """Rank 0 grades the step's generations (inline grading); every rank returns the metrics document."""
    outcome: dict[str, Any] | None = None
    if group.is_main:
        try:
            metrics = grade_checkpoint(context, step, checkpoint, progress=context.progress)
            outcome = {"metrics": metrics, "error": None}
        except BaseException as error:  # the other ranks must hear of it, or they wait for the timeout
            group.from_main({"metrics": None, "error": f"{type(error).__name__}: {error}"})
            raise
    shared = group.from_main(outcome)
    if shared["error"] is not None:
        raise RuntimeError(f"the SKILL-MIX evaluation failed on rank 0: {shared['error']}")
    return shared["metrics"]


def generate_checkpoint(
    context: EvalContext,
    group: RankGroup,
    generator: BatchGenerator,
    step: int,
    checkpoint: str | None,
) -> None:
    """Every rank: generate what the step's folder lacks, appended to `generations.jsonl` on rank 0."""
    folder = EvalFolder(step_folder(context.output_dir, step))
    done = _done_generation(context, folder) if group.is_main else set()
    plan_batches = batches(list(context.plan.items), context.batch_size)
    pending = group.from_main(
        [b for b, batch in enumerate(plan_batches) if any(item.key not in done for item in batch)]
        if group.is_main
        else None
    )
    _generate(context, group, generator, folder, plan_batches, pending, done, step, checkpoint)


def _done_generation(context: EvalContext, folder: EvalFolder) -> set[ItemKey]:
    """The items that already have a generation or a record in the folder."""
    by_key = {item.key: item for item in context.plan.items}
    done = folder.done(folder.generations, by_key).keys() | folder.done(folder.records, by_key).keys()
    log.info(
        "SKILL-MIX evaluation in %s: %d of %d generations already done",
        folder.root,
        len(done),
        len(context.plan.items),
    )
    return set(done)


def _generate(
    context: EvalContext,
    group: RankGroup,
    generator: BatchGenerator,
    folder: EvalFolder,
    plan_batches: list[list[EvalItem]],
    pending: list[int],
    done: set[ItemKey],
    step: int,
    checkpoint: str | None,
) -> None:
    """Generate the plan's batches numbered `pending`, each whole, with its own fixed seed.

    A batch's composition and seed are a function of the plan alone (never of what is left or of the world
    size), so a batch that a kill left half written is generated again whole, exactly as the first time,
    and only its items not yet on disk (`done`, known on rank 0) are appended.
    """
    if not pending:
        return
    stand_in = [context.plan.user_turns(plan_batches[pending[0]][0])]
    rounds = lockstep_rounds(len(pending), group.world_size, group.rank)
    shown = context.progress and group.is_main
    display = StatusLine(f"SKILL-MIX step {step}: generation batches", len(pending)) if shown else None
    with display or nullcontext():
        for round_number, slot in enumerate(rounds):
            if slot is None:
                generator.two_turns(stand_in, batch_seed(context.seed, -1))
                lines = []
            else:
                batch_index = pending[slot]
                batch = plan_batches[batch_index]
                conversations = generator.two_turns(
                    [context.plan.user_turns(item) for item in batch], batch_seed(context.seed, batch_index)
                )
                lines = [
                    _generation_line(
                        context, item, conversation, step, checkpoint, generator.effective_sampling
                    )
                    | {"rank": group.rank}
                    for item, conversation in zip(batch, conversations, strict=True)
                ]
            gathered = group.gather_to_main(lines)
            if gathered is not None:
                for rank_lines in gathered:
                    for line in rank_lines:
                        if item_key(line) not in done:
                            folder.generations.append(line)
                generated = min((round_number + 1) * group.world_size, len(pending))
                log.info("generated %d of %d batches", generated, len(pending))
                if display is not None:
                    display.update(
                        generated, f"{context.batch_size} conversations each, {group.world_size} rank(s)"
                    )


def _generation_line(
    context: EvalContext,
    item: EvalItem,
    conversation: list[dict[str, str]],
    step: int,
    checkpoint: str | None,
    sampling: dict[str, Any],
) -> dict[str, Any]:
    student = {
        "model": context.student_model,
        "generation_template": context.plan.generation_template,
        "sampling": sampling,
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


def grade_checkpoint(
    context: EvalContext, step: int, checkpoint: str | None, progress: bool = False
) -> dict[str, Any]:
    """Rank 0: grade every generation of the step without a record, aggregate, write `metrics.json`
    (a live progress line only where nothing else draws one: not beside training's progress bar)."""
    return grade_and_aggregate(
        context.plan,
        EvalFolder(step_folder(context.output_dir, step)),
        grader=context.grader,
        grading=context.grading,
        scoring=context.scoring,
        run=context.run,
        step=step,
        checkpoint=checkpoint,
        fail_on_grading_errors=context.fail_on_grading_errors,
        seen_in_training=context.seen_in_training,
        progress=progress,
    )
