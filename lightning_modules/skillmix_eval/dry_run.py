"""The evaluation's dry run: what the checkpoints this run will evaluate would cost, before any work.

The steps come from the trainer and the callback's own schedule (step 0 before training, every
`every_n_train_steps`, and each checkpoint the `ModelCheckpoint` callbacks will save up to `max_steps`);
what a step's folder already holds (a resumed run) is not counted again. Grading tokens and dollars come
from the generate command's estimator and the price table, through a client that can make no call.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from rich.console import Console

from datamodules.generation.plan import estimate_gradings
from graders.pricing import cost_text
from lightning_modules.skillmix_eval.evaluation import EvalContext
from skillmix.errors import InputError
from skillmix.evaluation.store import EvalFolder, pending_indices, step_folder


@dataclass(frozen=True)
class Schedule:
    """When the callback evaluates in `fit`."""

    before_training: bool
    every_n_train_steps: int | None
    on_checkpoint_save: bool


def fit_steps(trainer: Trainer, schedule: Schedule) -> list[int]:
    """The steps `fit` will evaluate, from `max_steps` and the evaluation and checkpoint intervals."""
    max_steps = trainer.max_steps
    if max_steps is None or max_steps < 0:
        raise InputError("the evaluation's dry run counts checkpoints from trainer.max_steps: set it")
    intervals = [schedule.every_n_train_steps] if schedule.every_n_train_steps else []
    steps = {0} if schedule.before_training else set()
    if schedule.on_checkpoint_save:
        for checkpoint in trainer.checkpoint_callbacks:
            if isinstance(checkpoint, ModelCheckpoint):
                intervals.append(checkpoint._every_n_train_steps)  # no public accessor
                if checkpoint.save_last:
                    steps.add(max_steps)
    for interval in filter(None, intervals):
        steps.update(range(interval, max_steps + 1, interval))
    return sorted(steps)


def print_dry_run(context: EvalContext, steps: list[int], console: Console | None = None) -> None:
    """Generations, grading requests, estimated grader tokens and cost of evaluating `steps`."""
    grader = context.grading.build_grader(context.grader.planning_client())
    by_key = {item.key: item for item in context.plan.items}
    lines: list[str] = []
    to_generate, to_grade = 0, []
    for step in steps:
        folder = EvalFolder(step_folder(context.output_dir, step))
        generate = len(pending_indices(folder, context.plan.items))
        graded = folder.done(folder.records, by_key).keys()
        grade = [item for item in context.plan.items if item.key not in graded]
        lines.append(f"  step {step}: {generate} to generate, {len(grade)} to grade")
        to_generate += generate
        to_grade += grade
    catalog = context.plan.catalog
    work = estimate_gradings([(catalog.skills_named(i.skills), i.topic) for i in to_grade], grader)
    cost = grader.client.list_price(work.grader_usage)
    (console or Console(soft_wrap=True)).print(
        f"Dry run: SKILL-MIX evaluation of {len(steps)} checkpoint{'' if len(steps) == 1 else 's'} "
        f"(steps {', '.join(map(str, steps)) or 'none'}), {len(context.plan.items)} generations each, "
        f"into {context.output_dir}:\n"
        + "\n".join(lines)
        + f"\n  student {context.student_model}: {to_generate} two-turn generations, in batches of "
        f"{context.batch_size} per rank, up to {context.student.max_new_tokens} new tokens per turn "
        "(on the trained model: no API cost)\n"
        f"  grader {grader.client.identity}: {context.grading.rounds * len(to_grade)} grading requests "
        f"({context.grading.rounds} rounds x {len(to_grade)} answers) in {work.grader_calls} calls, "
        f"~{work.grader_usage.input_tokens:,} input + ~{work.grader_usage.output_tokens:,} output tokens, "
        f"{cost_text(cost, local=grader.client.local, estimate=True)}\n"
        "  cached responses would be served without a call. Nothing was generated, no request was made."
    )
