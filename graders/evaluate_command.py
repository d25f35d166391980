"""`python cli.py evaluate`: SKILL-MIX(k) of any chat model — an API model, a model behind a server (vLLM,
SGLang, `transformers serve`) or a local Hugging Face folder — with the evaluation callback's plan, two-turn
conversation, folder layout, records and metrics, so `compare`, `grade` and `report` read it unchanged.

    <output_dir>/splits.json and evaluation.json (what `cli.py grade <output_dir>` grades with)
    <output_dir>/step<step>/{generations,records}.jsonl and metrics.json

Each generation line is appended the moment its conversation is done and each record the moment its
grading is; a re-run of the same command (after a kill, say) skips both by item identity, and the response
cache answers every request that was answered before, so nothing is paid for twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from graders.evaluation_description import EvalDescription
from graders.evaluation_grading import grade_and_aggregate
from graders.evaluation_student import ChatStudent, StudentFailedError, StudentSettings
from graders.progress import RichProgress
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from skillmix.catalog import load_catalog
from skillmix.errors import InputError
from skillmix.evaluation.plan import EvalItem, EvalPlan, build_plan
from skillmix.evaluation.reporting import headline
from skillmix.evaluation.store import EvalFolder, generation_line, pending_indices, save_splits, step_folder
from skillmix.metrics import ScoringOptions
from skillmix.splits import Splits, make_splits

log = logging.getLogger(__name__)

GPT4 = ClientSettings(provider="openai", model="gpt-4-0613")
DEFAULT_GRADING = GradingSettings()
DEFAULT_SCORING = ScoringOptions()


class GenerationIncompleteError(InputError, RuntimeError):
    """Some conversations could not be generated (their requests failed); a re-run generates them."""


def evaluate(
    student: StudentSettings,
    output_dir: Path | None = None,
    grader: ClientSettings = GPT4,
    grading: GradingSettings = DEFAULT_GRADING,
    settings: list[str] | None = None,
    ks: list[int] | None = None,
    combinations_per_k: int = 100,
    generation_rounds: int = 3,
    seed: int = 0,
    step: int = 0,
    checkpoint: str | None = None,
    run_name: str | None = None,
    skills_csv: str | None = None,
    topics_txt: str | None = None,
    splits: str | None = None,
    split_seed: int = 0,
    generation_template: str = "default",
    scoring: ScoringOptions = DEFAULT_SCORING,
    fail_on_grading_errors: bool = True,
    dry_run: bool = False,
    progress: bool = True,
) -> None:
    """SKILL-MIX(k) of any chat model: generate (two turns), grade, write records and metrics.json.

    The arguments carry the evaluation callback's names and meanings; `student` replaces the trained model.

    Args:
        student: The evaluated model (provider, model, base_url, temperature, top_p, max_new_tokens,
            system_prompt, and the client's concurrency, cache, budget, ...).
        output_dir: Where splits.json and the step folder go; default evaluations/<provider>-<model>.
            Point a re-run at the same folder to resume it.
        grader: The grader model and how to call it (provider, model, base_url, concurrency, cache,
            budget, ...). Default: OpenAI gpt-4-0613, the paper's grader; needs OPENAI_API_KEY.
        grading: Grading rounds (default 3, majority vote), prompt template, grader temperature/seed.
        settings: Which skill/topic pools: "train", "heldout", "all" (default: all three).
        ks: Numbers of skills per combination (default 2, 3, 4, 5).
        combinations_per_k: Combinations drawn per (setting, k): the callback's, for the same seed.
        generation_rounds: Answers per combination; a combination scores its best (or mean) round.
        seed: Seed of the combinations and of the student's sampling.
        step: The `step` of every record and the step folder's name (for example the checkpoint's
            training step, so `compare --plot` draws the curve).
        checkpoint: The `checkpoint` field of every record (default: the model folder for hf, else none).
        run_name: The `run` field of every record; default the student's model name.
        skills_csv: Skill catalog in the official format; default the packaged one.
        topics_txt: Topics to go with `skills_csv`.
        splits: A splits JSON (e.g. the one saved with the training data); default: splits.json in
            output_dir if there is one, else made from the catalog by category with `split_seed`.
        split_seed: Seed of the topic split when `splits` is not given.
        generation_template: Generation prompt template in `skillmix.prompts`.
        scoring: How points become metrics (length point, name penalty, max/mean over rounds).
        fail_on_grading_errors: Exit with an error when some gradings failed (after writing everything
            that worked), so the command can be re-run; otherwise write the incomplete metrics and stop.
        dry_run: Print what is planned and left to do (generations, student and grader calls), then stop
            without any call.
        progress: Show a live progress line while generating and grading.
    """
    student.check()
    output = Path(output_dir or Path("evaluations") / _slug(student))
    plan, chosen = _plan(
        output,
        settings,
        ks,
        combinations_per_k,
        generation_rounds,
        seed,
        skills_csv,
        topics_txt,
        splits,
        split_seed,
        generation_template,
    )
    folder = EvalFolder(step_folder(output, step))
    pending = [plan.items[i] for i in pending_indices(folder, plan.items)]
    if dry_run:
        _print_plan(plan, folder, pending, student, grader, grading)
        return
    if grader.provider != "hf":
        grader.build_backend()  # a missing grader key fails here, before any generation
    save_splits(chosen, output / "splits.json")
    run = run_name or (Path(student.model).name if student.provider == "hf" else student.model)
    EvalDescription(
        plan, skills_csv, topics_txt, run, grader, grading, scoring, fail_on_grading_errors, {}
    ).save(output)
    checkpoint = checkpoint or (student.model if student.provider == "hf" else None)
    log.info(
        "SKILL-MIX evaluation of %s:%s into %s: %d of %d generations left",
        student.provider,
        student.model,
        folder.root,
        len(pending),
        len(plan.items),
    )
    failed = asyncio.run(_generate(plan, folder, pending, student, run, step, checkpoint, seed, progress))
    metrics = grade_and_aggregate(
        plan,
        folder,
        grader=grader,
        grading=grading,
        scoring=scoring,
        run=run,
        step=step,
        checkpoint=checkpoint,
        fail_on_grading_errors=fail_on_grading_errors,
        progress=progress,
    )
    if failed:
        raise GenerationIncompleteError(
            f"{failed} of {len(pending)} conversations could not be generated (see the warnings above); "
            f"the metrics in {folder.metrics_path} leave them out. Run the same command again to generate "
            "them: nothing finished is redone."
        )
    log.info("%s (%s)", headline(metrics), run)


def pending_generations(
    output_dir: str | Path,
    step: int,
    settings: list[str] | None = None,
    ks: list[int] | None = None,
    combinations_per_k: int = 100,
    generation_rounds: int = 3,
    seed: int = 0,
    skills_csv: str | None = None,
    topics_txt: str | None = None,
    splits: str | None = None,
    split_seed: int = 0,
    generation_template: str = "default",
    **_: object,
) -> int:
    """How many of `evaluate`'s planned conversations at `step` in `output_dir` are not generated yet.

    Takes `evaluate`'s arguments (those that do not shape the plan are ignored), so a caller can tell
    whether a student is needed at all before it starts one (a model server, say).
    """
    output = Path(output_dir)
    plan, _chosen = _plan(
        output,
        settings,
        ks,
        combinations_per_k,
        generation_rounds,
        seed,
        skills_csv,
        topics_txt,
        splits,
        split_seed,
        generation_template,
    )
    return len(pending_indices(EvalFolder(step_folder(output, step)), plan.items))


def _plan(
    output: Path,
    settings: list[str] | None,
    ks: list[int] | None,
    combinations_per_k: int,
    generation_rounds: int,
    seed: int,
    skills_csv: str | None,
    topics_txt: str | None,
    splits: str | None,
    split_seed: int,
    generation_template: str,
) -> tuple[EvalPlan, Splits]:
    """The callback's plan for these arguments, and the split it draws from."""
    catalog = load_catalog(skills_csv, topics_txt)
    if splits:
        chosen = Splits.load(splits)
    elif (output / "splits.json").is_file():
        chosen = Splits.load(output / "splits.json")
    else:
        chosen = make_splits(catalog, seed=split_seed)
    plan = build_plan(
        catalog,
        chosen,
        settings or ["train", "heldout", "all"],
        ks or [2, 3, 4, 5],
        combinations_per_k,
        generation_rounds,
        seed,
        generation_template,
    )
    return plan, chosen


async def _generate(
    plan: EvalPlan,
    folder: EvalFolder,
    pending: list[EvalItem],
    settings: StudentSettings,
    run: str,
    step: int,
    checkpoint: str | None,
    seed: int,
    progress: bool,
) -> int:
    """Every pending conversation, each appended as it finishes; returns how many failed."""
    if not pending:
        return 0
    described = settings.description(plan.generation_template)
    with RichProgress("student") if progress else nullcontext() as display:
        client = settings.build_client(display)
        student = ChatStudent(client, settings, seed, plan.generation_template)

        async def one(item: EvalItem) -> tuple[EvalItem, list[dict[str, str]] | None]:
            try:
                return item, await student.two_turns(plan.user_turns(item), item.generation_round)
            except StudentFailedError as error:
                log.warning("%s: the student's request failed, left for the next run: %s", item.key, error)
                return item, None

        failed = 0
        try:
            for finished in asyncio.as_completed([one(item) for item in pending]):
                item, messages = await finished
                if messages is None:
                    failed += 1
                    continue
                folder.generations.append(
                    generation_line(
                        item,
                        messages,
                        run=run,
                        step=step,
                        checkpoint=checkpoint,
                        seed=seed,
                        student=described,
                    )
                    | {"served_by": client.identity}
                )
        finally:
            await client.aclose()
    log.info("student: %s", client.stats.summary())
    return failed


def _print_plan(
    plan: EvalPlan,
    folder: EvalFolder,
    pending: list[EvalItem],
    student: StudentSettings,
    grader: ClientSettings,
    grading: GradingSettings,
) -> None:
    by_key = {item.key: item for item in plan.items}
    graded = len(folder.done(folder.records, by_key))
    generated = len(plan.items) - len(pending)
    to_grade = len(plan.items) - graded
    Console(soft_wrap=True).print(
        f"Dry run: {len(plan.items)} planned generations in {folder.root} "
        f"({len(pending)} left to generate, {to_grade} left to grade; {generated} generated, "
        f"{graded} graded).\n"
        f"  student {student.provider}:{student.model}: up to {2 * len(pending)} calls (two turns each)\n"
        f"  grader {grader.provider}:{grader.model}: up to {grading.rounds * to_grade} gradings "
        f"({grading.rounds} rounds each)\n"
        "  cached responses are served without a call. No request was made."
    )


def _slug(student: StudentSettings) -> str:
    model = Path(student.model).name if student.provider == "hf" else student.model
    return "".join(c if c.isalnum() or c in "-." else "-" for c in f"{student.provider}-{model}")
