"""`python cli.py generate`: make D_SKILL-MIX(k) with a teacher LLM, filtered to full marks.

What defines a run's data is saved beside it (`d{k}.run.json`) so a resumed run cannot silently change it:
resuming with a different teacher, grader, prompt template, keep rule, pool, seed, split or catalog would
mix two data sets in one file; `check_resumable` refuses with the differing fields instead. `n`, budgets,
concurrency and batch options may change between invocations (a larger `n` extends the plan).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from datamodules.generation.batch_mode import advance_batches, cache_complete
from datamodules.generation.outputs import (
    AppendingWriter,
    GenerationProgress,
    OutputFiles,
    Record,
    answer_key,
    data_summary,
    invocation_summary,
    is_retryable,
    load_outcomes,
    rewrite,
)
from datamodules.generation.pipeline import GenerationPipeline, KeepRule, StopReason
from datamodules.generation.plan import Estimate, PlannedGeneration, SkillPool, estimate, plan_generations
from datamodules.generation.teacher import TeacherSampling
from graders.accounting import Budget
from graders.client import ModelClient
from graders.pricing import UNKNOWN_COST, cost_text
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings, SkillMixGrader
from skillmix.catalog import Catalog, load_catalog
from skillmix.errors import InputError
from skillmix.jsonl import write_json_atomically
from skillmix.splits import Splits, SplitsError, make_splits

logger = logging.getLogger(__name__)

GPT4 = ClientSettings(provider="openai", model="gpt-4-0613")
"""The paper's teacher and grader (its GPT-4 snapshot is not stated; gpt-4-0613 is the one SKILL-MIX used)."""
DEFAULT_SAMPLING = TeacherSampling()
DEFAULT_GRADING = GradingSettings()
DEFAULT_KEEP = KeepRule()


def generate(
    *,
    k: int,
    n: int,
    output_dir: Path,
    teacher: ClientSettings = GPT4,
    grader: ClientSettings = GPT4,
    teacher_sampling: TeacherSampling = DEFAULT_SAMPLING,
    grading: GradingSettings = DEFAULT_GRADING,
    keep: KeepRule = DEFAULT_KEEP,
    skill_pool: SkillPool = "paper",
    seed: int = 0,
    splits: Path | None = None,
    split_seed: int = 0,
    skills_csv: Path | None = None,
    topics_txt: Path | None = None,
    max_cost_usd: float | None = None,
    max_requests: int | None = None,
    batch: bool = False,
    batch_wait: bool = True,
    batch_poll_seconds: float = 60.0,
    dry_run: bool = False,
) -> None:
    """Generate D_SKILL-MIX(k): teacher texts for n (k skills, training topic) combinations, graded, and
    kept only with full marks. Re-running the same command resumes; a larger n extends the data.

    Args:
        k: Skills per text.
        n: Combinations to generate for (one generation each; the paper: 5,000 for D(1), 10,000 for D(2)
            and D(3)).
        output_dir: Folder for d{k}.jsonl (kept), d{k}.rejects.jsonl, d{k}.run.json, splits.json and
            summary.json. Several k may share one folder (and its split).
        teacher: The teacher model (the paper: GPT-4).
        grader: The grader model that filters the texts (the paper: GPT-4).
        teacher_sampling: How the teacher samples.
        grading: How the grader grades.
        keep: Which graded texts are kept (default: full marks as the evaluation scores them, from a
            majority of all grading rounds: an unscored round counts as not earned).
        skill_pool: "paper" (all skills for k=1, training skills for k>=2), "train" or "all". Topics are
            always the training topics.
        seed: Seed of the combination sampling.
        splits: A splits.json to use (for example one an evaluation already uses); default: the one in
            output_dir, else a new split made with split_seed.
        split_seed: Seed of a new split's topic halves.
        skills_csv: Skills in the official SKILL-MIX format; default: the packaged catalog.
        topics_txt: Topics, one per line; default: the packaged catalog.
        max_cost_usd: Stop (cleanly, resumable) before the estimated spend of teacher and grader together
            would pass this.
        max_requests: Start no new combination once teacher and grader made this many calls in this
            invocation (combinations in flight still finish).
        batch: Send the teacher and grader requests through the provider's Batch API (half price).
        batch_wait: In batch mode, wait for each stage's batch to end (up to 24 h each); if false, submit
            and return, and re-run the command later to continue.
        batch_poll_seconds: How often to poll a running batch.
        dry_run: Print the calls and the estimated cost of the remaining work, then stop without any call
            (no API key needed).
    """
    catalog = load_catalog(skills_csv, topics_txt)
    files = OutputFiles(Path(output_dir), k)
    chosen_splits = resolve_splits(files, catalog, splits, split_seed)
    plan = plan_generations(catalog, chosen_splits, k=k, n=n, seed=seed, pool=skill_pool)
    if dry_run:
        teacher_client, grader_client = _planning_clients(teacher, grader)
    else:
        teacher_client, grader_client = _build_clients(teacher, grader, max_cost_usd)
    grader_ = grading.build_grader(grader_client)
    identity = run_identity(
        k=k, seed=seed, skill_pool=skill_pool, splits=chosen_splits, catalog=catalog,
        teacher=teacher_client.identity, teacher_sampling=teacher_sampling, grading=grader_.config, keep=keep,
    )  # fmt: skip
    check_resumable(files, identity)
    outcomes = load_outcomes(files)
    todo = [p for p in plan if p.id not in outcomes or is_retryable(outcomes[p.id])]
    if dry_run:
        work = estimate(todo, teacher_client, grader_, teacher_sampling)
        _print_estimate(work, len(plan), teacher_client, grader_client, batch)
        return
    chosen_splits.save(files.splits)
    save_run_config(files, identity, n)
    concurrency = max(teacher.concurrency, grader.concurrency)
    run = _Run(
        files, plan, outcomes, teacher_client, grader_, teacher_sampling, keep, seed, skill_pool, concurrency,
        chosen_splits.fingerprint,
    )  # fmt: skip
    asyncio.run(run.execute(todo, max_requests, batch, batch_wait, batch_poll_seconds))


def _build_clients(
    teacher: ClientSettings, grader: ClientSettings, max_cost_usd: float | None
) -> tuple[ModelClient, ModelClient]:
    """Both clients, before any work: a missing key fails here. One budget covers both."""
    teacher_client = teacher.build_client()
    grader_client = teacher_client if grader == teacher else grader.build_client()
    if max_cost_usd is not None:
        unpriced = {c.backend.model for c in (teacher_client, grader_client) if c.price is None}
        if unpriced:
            raise InputError(
                f"max_cost_usd needs prices for {sorted(unpriced)}; add them with --teacher.prices / "
                "--grader.prices (a JSON/YAML file, see docs/graders.md) or cap with --max_requests"
            )
        shared = Budget(max_cost_usd)
        teacher_client.budget = grader_client.budget = shared
    return teacher_client, grader_client


def _planning_clients(teacher: ClientSettings, grader: ClientSettings) -> tuple[ModelClient, ModelClient]:
    """Clients for the dry run: they read the response cache (to know what is done) and price calls, but
    read no credentials and can make no call."""
    teacher_client = teacher.planning_client(read_cache=True)
    return teacher_client, teacher_client if grader == teacher else grader.planning_client(read_cache=True)


async def _close(teacher: ModelClient, grader: ModelClient) -> None:
    await teacher.aclose()
    if grader is not teacher:
        await grader.aclose()


@dataclass
class _Run:
    files: OutputFiles
    plan: list[PlannedGeneration]
    outcomes: dict[str, Record]
    teacher: ModelClient
    grader: SkillMixGrader
    sampling: TeacherSampling
    keep: KeepRule
    seed: int
    skill_pool: str
    concurrency: int
    split_fingerprint: str

    async def execute(
        self, todo: list[PlannedGeneration], max_requests: int | None, batch: bool, wait: bool, poll: float
    ) -> None:
        order = {planned.id: planned.index for planned in self.plan}
        rewrite(self.files, self.outcomes, order)
        provenance = {
            "teacher": self.teacher.identity,
            "source": f"cli.py generate (k={self.files.k}, pool={self.skill_pool}, seed={self.seed})",
            "split": self.split_fingerprint,
        }
        pipeline = GenerationPipeline(self.teacher, self.grader, self.sampling, self.keep, provenance)
        stopped = StopReason.COMPLETED.value
        extra: dict[str, Any] = {}
        try:
            if batch:
                progress = await advance_batches(
                    todo, self.teacher, self.grader, self.sampling, wait=wait, poll_seconds=poll
                )
                extra = {"batch_requests_submitted": progress.submitted, "batch_cost_usd": progress.cost_usd}
                if not wait:
                    todo = cache_complete(todo, self.teacher, self.grader, self.sampling)
            stopped = (await self._generate(pipeline, todo, max_requests)).value
        except BaseException as error:
            stopped = f"interrupted: {type(error).__name__}"
            raise
        finally:
            self._finish(order, stopped, extra)
            await _close(self.teacher, self.grader.client)

    async def _generate(
        self, pipeline: GenerationPipeline, todo: list[PlannedGeneration], max_requests: int | None
    ) -> StopReason:
        writer = AppendingWriter(self.files)
        kept_answers = {answer_key(r["answer"]): r["id"] for r in self.outcomes.values() if "reason" not in r}
        # The progress line counts the whole data set, earlier invocations included, as the summary does.
        redone = {planned.id for planned in todo}
        earlier = [self.outcomes[p.id] for p in self.plan if p.id not in redone and p.id in self.outcomes]
        counts = Counter("rejected" if "reason" in record else "kept" for record in earlier)

        def sink(record: Record) -> None:
            if "reason" not in record:
                first = kept_answers.setdefault(answer_key(record["answer"]), record["id"])
                if first != record["id"]:
                    record = record | {"reason": "duplicate", "duplicate_of": first}
            self.outcomes[record["id"]] = record
            writer.write(record)
            counts["rejected" if "reason" in record else "kept"] += 1
            progress.show(
                counts.total(),
                counts["kept"],
                counts["rejected"],
                pipeline.calls_made,
                self._spent(),
                self._in_flight(),
            )

        with GenerationProgress(f"D({self.files.k})", total=len(self.plan)) as progress:
            progress.show(counts.total(), counts["kept"], counts["rejected"], 0, self._spent())
            return await pipeline.run(todo, sink, concurrency=self.concurrency, max_requests=max_requests)

    def _in_flight(self) -> str:
        """Calls in flight per client, with the adaptive window: "teacher 9/12, grader 4/8"."""
        clients = {"teacher": self.teacher, "grader": self.grader.client}
        shown = {}
        for name, client in clients.items():
            level = client.stats.rate.level if client.stats.rate and client.stats.rate.adaptive else None
            shown[name] = f"{client.stats.calls_in_flight}" + (f"/{level}" if level else "")
        if self.teacher is self.grader.client:
            return shown["teacher"]
        return ", ".join(f"{name} {text}" for name, text in shown.items())

    def _spent(self) -> str:
        clients = {self.teacher, self.grader.client}
        if any(c.stats.unpriced_calls for c in clients):
            return UNKNOWN_COST
        spent = sum(c.stats.cost_usd for c in clients)
        return cost_text(spent, local=all(c.local for c in clients), digits=4)

    def _finish(self, order: dict[str, int], stopped: str, extra: dict[str, Any]) -> None:
        """Rewrite the files in plan order and update the summary; runs after every stop, clean or not."""
        records = rewrite(self.files, self.outcomes, order)
        grader_client = self.grader.client
        summary = data_summary(self.files.k, len(self.plan), records, self.teacher, grader_client)
        summary["last_invocation"] = invocation_summary(stopped, self.teacher, grader_client, extra)
        previous = read_summary(self.files.summary)
        write_json_atomically(self.files.summary, previous | {f"d{self.files.k}": summary})
        logger.info(
            "D(%d): %d of %d planned combinations finished, %d kept (%s); rejects: %s; stopped: %s; "
            "this invocation spent %s",
            self.files.k, summary["finished"], summary["planned"], summary["kept"],
            _rate(summary["kept_rate"]), summary["rejected"] or "none", stopped, self._spent(),
        )  # fmt: skip


def read_summary(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%} of generated"


def _print_estimate(
    work: Estimate, planned: int, teacher: ModelClient, grader: ModelClient, batch: bool
) -> None:
    cost = work.cost(teacher, grader, batch=batch)
    local = {"teacher": teacher.local, "grader": grader.local, "total": teacher.local and grader.local}
    money = {side: cost_text(value, local=local[side], estimate=True) for side, value in cost.items()}
    stages = ", ".join(f"{stage} {count}" for stage, count in sorted(work.stages.items())) or "none"
    Console(soft_wrap=True).print(
        f"Dry run: {work.combinations} of {planned} planned combinations left to generate "
        f"(next request needed: {stages}).\n"
        f"  teacher {teacher.identity}: {work.teacher_calls} calls, ~{work.teacher_usage.input_tokens:,} "
        f"input + ~{work.teacher_usage.output_tokens:,} output tokens, {money['teacher']}\n"
        f"  grader {grader.identity}: {work.grader_calls} calls, ~{work.grader_usage.input_tokens:,} "
        f"input + ~{work.grader_usage.output_tokens:,} output tokens, {money['grader']}\n"
        f"  total {money['total']}{' with the Batch API discount' if batch and cost['total'] else ''}. "
        "No request was made."
    )


class RunConfigError(InputError):
    """The output folder holds a run made with other settings."""


def catalog_fingerprint(catalog: Catalog) -> str:
    content = [[s.name, s.category, s.definition, s.example] for s in catalog.skills] + [list(catalog.topics)]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def resolve_splits(files: OutputFiles, catalog: Catalog, requested: Path | None, split_seed: int) -> Splits:
    """The split saved in the output folder, else `requested`, else a new one made with `split_seed`."""
    saved = Splits.load(files.splits) if files.splits.exists() else None
    chosen = Splits.load(requested) if requested is not None else saved or make_splits(catalog, split_seed)
    if saved is not None and chosen != saved:
        raise SplitsError(
            f"{files.splits} holds another split than {requested}. Fix: generate into a new output_dir, "
            "or drop --splits to keep using the saved one"
        )
    if requested is None and saved is not None and saved.seed != split_seed:
        raise SplitsError(
            f"{files.splits} was made with split_seed={saved.seed}, not {split_seed}. Fix: pass "
            f"--split_seed {saved.seed}, or generate into a new output_dir"
        )
    chosen.check_against(catalog)
    return chosen


def run_identity(
    *,
    k: int,
    seed: int,
    skill_pool: str,
    splits: Splits,
    catalog: Catalog,
    teacher: str,
    teacher_sampling: Any,
    grading: dict[str, Any],
    keep: Any,
) -> dict[str, Any]:
    return {
        "k": k,
        "seed": seed,
        "skill_pool": skill_pool,
        "split_seed": splits.seed,
        "train_categories": list(splits.train_categories),
        "catalog": catalog_fingerprint(catalog),
        "teacher": teacher,
        "teacher_sampling": asdict(teacher_sampling),
        "grading": grading,
        "keep": asdict(keep),
    }


def check_resumable(files: OutputFiles, identity: dict[str, Any]) -> None:
    if not files.run_config.exists():
        return
    saved = json.loads(files.run_config.read_text(encoding="utf-8"))["identity"]
    differing = sorted(key for key in set(saved) | set(identity) if saved.get(key) != identity.get(key))
    if differing:
        changes = "; ".join(f"{key}: {saved.get(key)!r} -> {identity.get(key)!r}" for key in differing)
        raise RunConfigError(
            f"{files.run_config}: this output folder holds D({files.k}) made with other settings "
            f"({changes}). Fix: use the saved settings to resume, or generate into a new output_dir"
        )


def save_run_config(files: OutputFiles, identity: dict[str, Any], n: int) -> None:
    write_json_atomically(files.run_config, {"identity": identity, "n": n})
