"""`python cli.py grade RECORDS.jsonl | RUN_OR_EVAL_DIR`: grade without regenerating.

A records file is re-graded (by default with the records' own grading settings) and the new records go
beside it, one line per record as soon as its grading finishes. A run or evaluation folder has its ungraded
generations graded in place (`graders.grade_run`). Either way a re-run skips what is done, so an
interrupted run (or one stopped by its budget) resumes where it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graders.batch.jobs import collect_batches, submit_batches
from graders.evaluation_description import overridden
from graders.grade_loop import grade_and_write
from graders.grade_run import evaluation_folder, grade_run
from graders.progress import RichProgress
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingItem, GradingSettings, SkillMixGrader, generation_draw
from skillmix.answers import extract_answer
from skillmix.catalog import Catalog, load_catalog
from skillmix.errors import InputError
from skillmix.evaluation.reporting import summarize_records
from skillmix.jsonl import JsonlAppender, iter_jsonl
from skillmix.metrics import ScoringOptions

log = logging.getLogger(__name__)

IDENTITY_FIELDS = (
    "id",
    "run",
    "checkpoint",
    "setting",
    "k",
    "combination_index",
    "skills",
    "topic",
    "generation_round",
)
"""The fields that name one record (absent ones count as null); never its position in the file."""


def record_identity(record: dict[str, Any]) -> str:
    fields = {name: record.get(name) for name in IDENTITY_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SourceRecord:
    line: int
    record: dict[str, Any]
    item: GradingItem


def grade(
    path: Path,
    output: Path | None = None,
    client: ClientSettings | None = None,
    grading: GradingSettings | None = None,
    skills_csv: Path | None = None,
    topics_txt: Path | None = None,
    batch: Literal["off", "submit", "collect"] = "off",
    progress: bool = True,
    follow: bool = False,
    poll_seconds: float = 10.0,
) -> None:
    """Grade evaluation records (a JSONL file, re-graded beside it) or a run's generations (a folder).

    Args:
        path: A records file: evaluation records, one JSON object per line with at least `skills`,
            `topic` and `answer` or `messages` (the graded text is extracted from the last assistant
            message). Or a run folder (one holding skillmix_eval/) or an evaluation folder (one holding
            step*/ folders): every generation without a record is graded in place, per step, writing the
            step's records.jsonl and metrics.json as the evaluation callback does, and metrics.csv.
        output: For a records file: where the new records go; default
            RECORDS.graded-by-<provider>-<model>.jsonl beside them. Records already there are skipped.
            Records whose requests failed go to OUTPUT.errors.jsonl and are retried by the next run.
        client: The grader model and how to call it (provider, model, base_url, concurrency, cache,
            budget, ...). Default for a records file: openai gpt-4-0613 (the paper's grader; needs
            OPENAI_API_KEY). For a folder: the grader the evaluation saved; the fields you set change it.
        grading: Grading rounds, prompt template ("gpt": the rubric table, as in the paper; "llama"),
            grader temperature/seed, reply length, one re-ask of an unreadable reply. Default: the
            records' own grading settings (their `grading_config`; 3 rounds, "gpt" where they have none),
            or for a folder the evaluation's; the fields you set change them.
        skills_csv: Skill catalog (official CSV format) the records' skills come from; default: the
            packaged one.
        topics_txt: Topic list to go with `skills_csv`.
        batch: "submit": send all uncached gradings to the provider's Batch API (half price) and exit;
            "collect": wait for submitted batches, ingest them into the cache, then grade (live calls only
            for what the batches did not return); "off": grade with live calls.
        progress: Show a live progress line (records file).
        follow: For a folder: keep grading new generations as a running job writes them (new steps,
            growing files), until interrupted or until the job marks the folder finished.
        poll_seconds: With `follow`, seconds between looks for new generations.
    """
    eval_dir = evaluation_folder(path) if path.is_dir() else None
    if eval_dir is not None:
        grade_run(eval_dir, client, grading, follow, poll_seconds)
        return
    if not path.is_file():
        raise InputError(
            f"{path}: no such file, and not a run or evaluation folder. Fix: pass a run folder (with "
            "skillmix_eval/), an evaluation folder (with step*/ folders), or a records.jsonl written by "
            "the evaluation (<run>/skillmix_eval/stepNNNNNN/records.jsonl) or by an earlier `grade`."
        )
    records = path
    settings = client or ClientSettings()
    catalog = load_catalog(skills_csv, topics_txt)
    sources = read_records(records, catalog)
    grading = overridden(records_grading(sources), grading)
    output = output or records.with_name(f"{records.stem}.graded-by-{_slug(settings)}.jsonl")
    done = _identities(output)
    todo = [s for s in sources if record_identity(s.record) not in done]
    log.info(
        "%s: %d records, %d already graded in %s", records, len(sources), len(sources) - len(todo), output
    )
    if todo or batch == "collect":
        asyncio.run(_grade(todo, records, output, settings, grading, batch, progress))
    if batch != "submit":
        print_grades(output)


def records_grading(sources: Sequence[SourceRecord]) -> GradingSettings:
    """The grading settings the first record was graded with (its `grading_config`), saying so."""
    config = next((s.record["grading_config"] for s in sources if "grading_config" in s.record), None)
    if not isinstance(config, dict):
        log.info("grading settings: the defaults (the records name none)")
        return GradingSettings()
    settings = GradingSettings(
        rounds=int(config.get("rounds", 3)),
        template=str(config.get("template", "gpt")),
        temperature=config.get("temperature", 1.0),
        seed=config.get("seed"),
        max_tokens=int(config.get("max_tokens", 512)),
        reask=bool(config.get("reask", True)),
        require_length_row=config.get("length_row") == "required",
    )
    log.info(
        "grading settings from the records: %d rounds, template %r (set --grading.rounds / "
        "--grading.template to change them)",
        settings.rounds,
        settings.template,
    )
    return settings


def print_grades(output: Path) -> None:
    """The metrics of the records this command wrote, per (setting, k), and how to compare them."""
    records = [record for _, record in iter_jsonl(output)]
    if not records:
        return
    try:
        groups = summarize_records(records, ScoringOptions())
    except InputError as error:  # records without the evaluation's fields (run, step, seed) still grade
        log.info("no metrics for %s: %s", output, error)
        return
    for setting, k, summary in groups:
        cells = [
            f"{name.replace('_', ' ')} {value:.3f}" if value is not None else f"{name} -"
            for name, value in (
                ("full_marks", summary.full_marks),
                ("all_skills", summary.all_skills),
                ("skills_fraction", summary.skills_fraction),
            )
        ]
        sys.stdout.write(f"{output.name}: {setting} k={k}: {', '.join(cells)} (n={summary.n})\n")
    sys.stdout.write(f"Compare with the original grades: python cli.py compare {output.parent}\n")


async def _grade(
    todo: Sequence[SourceRecord],
    source_path: Path,
    output: Path,
    settings: ClientSettings,
    grading: GradingSettings,
    batch: str,
    progress: bool,
) -> None:
    with RichProgress("grading") if progress else nullcontext() as display:
        client = settings.build_client(display)
        grader = grading.build_grader(client)
        try:
            if batch == "submit":
                ids = await submit_batches(client, [grader.request(s.item) for s in todo])
                log.info(
                    "submitted batches %s; run again with --batch collect to ingest and grade",
                    ids or "(none)",
                )
                return
            if batch == "collect":
                await collect_batches(client)
            await _write_gradings(todo, source_path, output, grader)
        finally:
            await client.aclose()
    log.info("%s; %s", grader.stats.summary(), client.stats.summary())


async def _write_gradings(
    todo: Sequence[SourceRecord], source_path: Path, output: Path, grader: SkillMixGrader
) -> None:
    errors_path = output.with_suffix(".errors.jsonl")
    errors_path.unlink(missing_ok=True)
    errors = JsonlAppender(errors_path)
    outcome = await grade_and_write(
        grader,
        [s.item for s in todo],
        [s.record for s in todo],
        JsonlAppender(output).append,
        on_failure=errors.append,
        annotate=lambda index: {"regraded_from": f"{source_path}:{todo[index].line}"},
    )
    if outcome.failed:
        log.warning(
            "%d records had failed requests (see %s); run the command again to retry them",
            outcome.failed,
            errors_path,
        )


def read_records(path: Path, catalog: Catalog) -> list[SourceRecord]:
    """Every record of a JSONL file, with what grading needs checked; errors name the line and field."""
    sources = [
        SourceRecord(number, record, _grading_item(record, f"{path}:{number}", catalog))
        for number, record in iter_jsonl(path, fix="each line must be one JSON object")
    ]
    if not sources:
        raise InputError(f"{path}: no records to grade")
    return sources


def _grading_item(record: Any, where: str, catalog: Catalog) -> GradingItem:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    skills, topic = record.get("skills"), record.get("topic")
    if not isinstance(skills, list) or not skills or not all(isinstance(s, str) for s in skills):
        raise InputError(f"{where}: field 'skills' must be a non-empty list of skill names")
    if not isinstance(topic, str) or not topic:
        raise InputError(f"{where}: field 'topic' must be a non-empty string")
    if "k" in record and record["k"] != len(skills):
        raise InputError(f"{where}: field 'k' is {record['k']} but 'skills' names {len(skills)}")
    try:
        named = catalog.skills_named(skills)
    except KeyError as error:
        raise InputError(
            f"{where}: {error.args[0]} Fix: pass --skills_csv with the catalog the records were made with."
        ) from None
    return GradingItem(named, topic, _answer(record, where), generation_draw(record))


def _answer(record: dict[str, Any], where: str) -> str:
    if isinstance(record.get("answer"), str):
        return str(record["answer"])
    messages = record.get("messages")
    replies = [
        m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "assistant"
    ]
    if not replies or not isinstance(replies[-1], str):
        raise InputError(f"{where}: needs field 'answer', or 'messages' ending with an assistant reply")
    return extract_answer(replies[-1])


def _identities(output: Path) -> set[str]:
    return {record_identity(record) for _, record in iter_jsonl(output)}


def _slug(settings: ClientSettings) -> str:
    model = Path(settings.model).name if settings.provider == "hf" else settings.model
    return "".join(c if c.isalnum() or c in "-." else "-" for c in f"{settings.provider}-{model}")
