"""`python cli.py compare`: SKILL-MIX metrics of graded records, one row per run, setting, k and seed.

Sources of graded records are pluggable: each `RecordSource` says whether it can read a path and reads it
into `GradedGeneration`s; the aggregation never knows where records came from.
"""

from __future__ import annotations

import json as json_lib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from skillmix.breakdown import Breakdown, breakdown_rows, print_breakdown
from skillmix.checkpoint_deltas import add_steps_and_deltas, plot_steps, print_deltas
from skillmix.errors import InputError
from skillmix.evaluation.reader import is_eval_output, read_eval_output
from skillmix.graded import GradedGeneration
from skillmix.intervals import DEFAULT_BOOTSTRAP, BootstrapSettings
from skillmix.metrics import METRIC_NAMES, GenerationAggregate, ScoringOptions, aggregate
from skillmix.reference_layout import is_reference_layout, read_reference_layout
from skillmix.text_checks import NameMatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordSource:
    name: str
    can_read: Callable[[Path], bool]
    read: Callable[[Path], list[GradedGeneration]]


RECORD_SOURCES: list[RecordSource] = [
    RecordSource("reference SKILL-MIX layout", is_reference_layout, read_reference_layout),
    RecordSource("skillmix-lightning evaluation outputs", is_eval_output, read_eval_output),
]
"""Tried in order for each PATH; the first that can read it does."""


def read_records(path: Path) -> list[GradedGeneration]:
    for source in RECORD_SOURCES:
        if source.can_read(path):
            logger.info("%s: reading as %s", path, source.name)
            return source.read(path)
    known = ", ".join(source.name for source in RECORD_SOURCES)
    raise InputError(f"{path}: no graded records found. Fix: pass a folder in one of these layouts: {known}.")


def compare_rows(
    paths: Sequence[Path],
    options: ScoringOptions,
    bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP,
    baseline_run: str | None = None,
) -> list[dict[str, Any]]:
    """The rows `compare` prints, as JSON-ready dicts, with intervals and paired tests
    (`skillmix.compare_stats`)."""
    records = [record for path in paths for record in read_records(Path(path))]
    return rows_from_records(records, options, bootstrap, baseline_run)


def rows_from_records(
    records: Sequence[GradedGeneration],
    options: ScoringOptions,
    bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP,
    baseline_run: str | None = None,
) -> list[dict[str, Any]]:
    """`compare_rows` of records already read."""
    from skillmix.compare_stats import add_intervals_and_tests  # numpy/scipy: only once rows are made

    rows = []
    for (run, setting, checkpoint, k, seed, grader), summary in aggregate(records, options).items():
        row: dict[str, Any] = {"run": run, "setting": setting, "checkpoint": checkpoint, "k": k, "seed": seed}
        row |= {"grader": grader, "n": summary.n}
        for name in METRIC_NAMES:
            row[name] = getattr(summary, name)
            row[f"{name}_se"] = getattr(summary, f"{name}_se")
        row |= {
            "unscored": summary.unscored,
            "gradings": summary.gradings,
            "unscored_combinations": summary.unscored_combinations,
            "reference_compat": options.reference_compat,
            "warnings": summary.warnings,
        }
        rows.append(row)
    rows = add_steps_and_deltas(rows, records, options)
    return add_intervals_and_tests(rows, records, options, bootstrap, baseline_run)


def compare(
    paths: Sequence[Path],
    json: bool = False,
    name_penalty: bool = True,
    plot: Path | None = None,
    programmatic_length: bool = True,
    generation_aggregate: GenerationAggregate = "max",
    reference_compat: bool = False,
    bootstrap_resamples: int = 2000,
    bootstrap_seed: int = 0,
    baseline_run: str | None = None,
    by: Breakdown | None = None,
    skills_csv: Path | None = None,
    name_match: NameMatch = "substring",
) -> None:
    """Print the comparison (table or JSON) and optionally plot it; arguments as in `compare --help`."""
    options = ScoringOptions(
        programmatic_length, name_penalty, generation_aggregate, reference_compat, name_match
    )
    if by is not None:
        records = [record for path in paths for record in read_records(Path(path))]
        breakdown = breakdown_rows(records, by, options, paths, skills_csv)
        if json:
            sys.stdout.write(json_lib.dumps(breakdown, indent=2) + "\n")
        else:
            print_breakdown(breakdown, by)
        return
    bootstrap = BootstrapSettings(resamples=bootstrap_resamples, seed=bootstrap_seed)
    rows = compare_rows(paths, options, bootstrap, baseline_run)
    from skillmix.compare_stats import multiple_comparison_note, print_run_deltas

    note = multiple_comparison_note(rows)
    if json:
        sys.stdout.write(json_lib.dumps(rows, indent=2) + "\n")
        if note:
            logger.info(note)
    else:
        from rich.console import Console

        from skillmix.compare_report import print_table

        print_table(rows)
        print_deltas(rows)
        print_run_deltas(rows)
        if note:
            Console().print(f"[yellow]note[/yellow] {note}")
    if plot is not None:
        from skillmix.compare_report import plot_rows

        (plot_steps if any(row["step"] is not None for row in rows) else plot_rows)(rows, plot)
        logger.info("wrote %s", plot)


def compare_parser() -> ArgumentParser:
    """`compare PATH... [--json] [--name_penalty true|false] [--plot FILE.png]` (docs/architecture.md).

    Written out rather than derived from `compare`'s signature: a bare `--json` and several positional
    paths are the contract, and a signature-derived parser accepts neither.
    """
    parser = ArgumentParser(
        prog="cli.py compare",
        description=(
            "Compare SKILL-MIX results: Ratio of Full Marks, Ratio of All Skills and Skills Fraction. "
            "Every grader reply is re-parsed with this project's rubric parser. Rows are per (run, "
            "setting, checkpoint, k, seed); unscored gradings are counted in `unscored`, never scored "
            "as 0 (unless --reference_compat)."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help=(
            "Folders of graded records: the reference SKILL-MIX layout, or this project's evaluation "
            "outputs (a run's log directory, its skillmix_eval folder or one records.jsonl). Rows from "
            "evaluation outputs carry their training `step` and, after step 0, the difference to step 0 "
            "(the base model) with a standard error paired over the shared combinations."
        ),
    )
    flag: dict[str, Any] = {"type": bool, "nargs": "?", "const": True}  # a bare `--json` means true
    parser.add_argument("--json", default=False, help="Print one JSON document (a list of rows).", **flag)
    parser.add_argument("--plot", type=Path | None, default=None, help="Also draw the metrics into this PNG.")
    add_scoring_arguments(parser)
    parser.add_argument(
        "--bootstrap_resamples", type=int, default=2000, help="Resamples of each 95% bootstrap interval."
    )
    parser.add_argument("--bootstrap_seed", type=int, default=0, help="Seed of every bootstrap interval.")
    parser.add_argument(
        "--baseline_run",
        type=str | None,
        default=None,
        help=(
            "Run the other runs are tested against, on the combinations they share (same setting, "
            "checkpoint, k, seed, grader); default: the first run by name with a scored combination."
        ),
    )
    parser.add_argument(
        "--by",
        type=Breakdown | None,
        default=None,
        help=(
            "Instead of the metrics, where the model fails: per skill (rate its point is earned), per "
            "skill category (and training vs held-out skills), or per rubric criterion (failure rate)."
        ),
    )
    parser.add_argument(
        "--skills_csv",
        type=Path | None,
        default=None,
        help="Skill catalog giving each skill's category for --by; default: the packaged one.",
    )
    return parser


def add_scoring_arguments(parser: ArgumentParser) -> None:
    """The scoring options (`ScoringOptions`) of every command that computes the metrics."""
    flag: dict[str, Any] = {"type": bool, "nargs": "?", "const": True}
    parser.add_argument(
        "--name_penalty",
        default=True,
        help='A skill whose name (cut at "(") appears in the answer gets 0 for that skill.',
        **flag,
    )
    parser.add_argument(
        "--name_match",
        type=NameMatch,
        default="substring",
        help='Find skill names by "substring" (the reference: "pun" fires on "punish") or whole "word".',
    )
    parser.add_argument(
        "--programmatic_length",
        default=True,
        help="Replace the grader's length point with the reference's sentence count.",
        **flag,
    )
    parser.add_argument(
        "--generation_aggregate",
        type=GenerationAggregate,
        default="max",
        help='Combine a combination\'s generation rounds by "max" (the paper) or "mean".',
    )
    parser.add_argument(
        "--reference_compat",
        default=False,
        help="Score unscored gradings as all zeros, as the reference implementation does (for comparisons).",
        **flag,
    )


def main(argv: list[str]) -> None:
    compare(**compare_parser().parse_args(argv).as_dict())
