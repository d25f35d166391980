"""`python cli.py agreement PATH...`: how far a SKILL-MIX grader agrees with itself and with another grader.

Both statistics are computed on the grader's parsed points, before the name penalty and the programmatic
length (those are the program's, not the grader's), per rubric criterion kind (skill, topic, sense, length)
and over all criteria together (`all`), per (run, checkpoint, setting, k, seed) cell and pooled:
- **between the grading rounds of one grader**: Fleiss' kappa, each (generation, criterion) with all R
  rounds scored one subject and each round one rater, and the percent of unanimous subjects;
- **between two graders that graded the same generations** (this project's records plus the file `cli.py
  grade` wrote beside them with another grader, or a reference folder holding two `by_<grader>` folders):
  Cohen's kappa on each grader's majority-voted points, the percent agreement, the 2x2 confusion counts,
  and each grader's three metrics on those generations side by side.
`statsmodels` computes both kappas. Formulas and how to read them: docs/statistics.md.
"""

from __future__ import annotations

import json as json_lib
import logging
import sys
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from skillmix.breakdown import CRITERION_KINDS, criterion_kind
from skillmix.compare import read_records
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import METRIC_NAMES, ScoringOptions, majority_vote, score_generation, summarize

logger = logging.getLogger(__name__)

KINDS = (*CRITERION_KINDS, "all")
Cell = tuple[str, str | None, str, int, int | None]
"""(run, checkpoint, setting, k, seed)."""


def agreement_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The rows `agreement --json` prints: Fleiss rows (`statistic: "fleiss"`, one grader) and Cohen rows
    (`statistic: "cohen"`, two graders), per cell (`scope: "cell"`) and pooled (`scope: "pooled"`)."""
    records = [record for path in paths for record in read_records(Path(path))]
    return rows_from_records(records)


def rows_from_records(records: Sequence[GradedGeneration]) -> list[dict[str, Any]]:
    by_grader = _gradings_by_grader(records)
    return _fleiss_rows(by_grader) + _cohen_rows(by_grader)


def _gradings_by_grader(
    records: Sequence[GradedGeneration],
) -> dict[Cell, dict[Hashable, dict[str, GradedGeneration]]]:
    """Per cell, per generation (combination, generation round): one record per grader, holding only that
    grader's gradings; a grader's gradings of one generation seen twice are kept once (the first)."""
    cells: dict[Cell, dict[Hashable, dict[str, GradedGeneration]]] = defaultdict(lambda: defaultdict(dict))
    for record in records:
        cell = (record.run, record.checkpoint, record.setting, record.k, record.seed)
        graders: dict[str, list[Grading]] = defaultdict(list)
        for grading in record.gradings:
            graders[grading.grader].append(grading)
        generation = cells[cell][(record.combination, record.generation_round)]
        for grader, gradings in graders.items():
            if grader in generation:
                logger.warning("%s: %s graded this generation already; kept the first", record.source, grader)
                continue
            generation[grader] = replace(record, gradings=tuple(gradings))
    return cells


def _cell_fields(cell: Cell | None) -> dict[str, Any]:
    run, checkpoint, setting, k, _seed = cell or (None, None, None, None, None)
    step = int(checkpoint) if checkpoint is not None and checkpoint.isdigit() else None
    scope = "cell" if cell is not None else "pooled"
    return {"scope": scope, "run": run, "checkpoint": checkpoint, "step": step, "setting": setting, "k": k}


# ---- between grading rounds: Fleiss' kappa --------------------------------------------------------------


def _fleiss_rows(cells: dict[Cell, dict[Hashable, dict[str, GradedGeneration]]]) -> list[dict[str, Any]]:
    rows = []
    pooled: dict[tuple[str, int], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for cell, generations in sorted(cells.items(), key=lambda item: repr(item[0])):
        graders = sorted({grader for members in generations.values() for grader in members})
        for grader in graders:
            records = [members[grader] for members in generations.values() if grader in members]
            rounds = max(len(record.gradings) for record in records)
            if rounds < 2:
                continue
            ones = _ones_per_subject(records, rounds)
            if not ones["all"]:
                continue  # no generation with all its rounds scored
            for kind in KINDS:
                pooled[(grader, rounds)][kind] += ones[kind]
                rows.append(_fleiss_row(cell, grader, rounds, kind, ones[kind]))
    for (grader, rounds), ones_of in sorted(pooled.items()):
        rows += [_fleiss_row(None, grader, rounds, kind, ones_of[kind]) for kind in KINDS]
    return rows


def _ones_per_subject(records: Sequence[GradedGeneration], rounds: int) -> dict[str, list[int]]:
    """Per criterion kind: for each subject (generation x criterion, all `rounds` rounds scored), how many
    rounds gave the point."""
    ones: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for record in records:
        points = [grading.points for grading in record.gradings if grading.points is not None]
        if len(points) != rounds:
            continue
        for index, column in enumerate(zip(*points, strict=True)):
            ones[criterion_kind(index, record.k)].append(sum(column))
            ones["all"].append(sum(column))
    return ones


def _fleiss_row(cell: Cell | None, grader: str, rounds: int, kind: str, ones: list[int]) -> dict[str, Any]:
    row = _cell_fields(cell) | {"statistic": "fleiss", "graders": [grader], "rounds": rounds}
    row |= {"criterion": kind, "n": len(ones), "kappa": fleiss_kappa_of(ones, rounds)}
    unanimous = sum(1 for count in ones if count in (0, rounds))
    row["percent_agreement"] = 100 * unanimous / len(ones) if ones else None
    row["point_rate"] = sum(ones) / (rounds * len(ones)) if ones else None
    return row


def fleiss_kappa_of(ones: Sequence[int], rounds: int) -> float | None:
    """Fleiss' kappa of binary ratings: `ones[i]` of `rounds` raters gave subject i the point. None when
    undefined (no subject, or every rating the same, so that chance agreement is already 1)."""
    total = sum(ones)
    if not ones or total in (0, rounds * len(ones)):
        return None
    from statsmodels.stats.inter_rater import fleiss_kappa

    table = [[rounds - count, count] for count in ones]
    return float(fleiss_kappa(table, method="fleiss"))


# ---- between two graders: Cohen's kappa -----------------------------------------------------------------


def _cohen_rows(cells: dict[Cell, dict[Hashable, dict[str, GradedGeneration]]]) -> list[dict[str, Any]]:
    rows = []
    pooled: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    pooled_records: dict[tuple[str, str], list[tuple[GradedGeneration, GradedGeneration]]] = defaultdict(list)
    for cell, generations in sorted(cells.items(), key=lambda item: repr(item[0])):
        graders = sorted({grader for members in generations.values() for grader in members})
        for pair in combinations(graders, 2):
            shared = [
                (members[pair[0]], members[pair[1]])
                for members in generations.values()
                if all(grader in members and _scored(members[grader]) for grader in pair)
            ]
            if not shared:
                continue
            pairs = _voted_pairs(shared)
            pooled_records[pair] += shared
            for kind in KINDS:
                pooled[pair][kind] += pairs[kind]
                rows.append(_cohen_row(cell, pair, kind, pairs[kind], shared))
    for pair, pairs_of in sorted(pooled.items()):
        rows += [_cohen_row(None, pair, kind, pairs_of[kind], pooled_records[pair]) for kind in KINDS]
    return rows


def _scored(record: GradedGeneration) -> bool:
    return any(grading.points is not None for grading in record.gradings)


def _voted_pairs(
    shared: Sequence[tuple[GradedGeneration, GradedGeneration]],
) -> dict[str, list[tuple[int, int]]]:
    """Per criterion kind: (first grader's majority-voted point, second's) for every shared criterion."""
    pairs: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
    for first, second in shared:
        votes = [
            majority_vote([g.points for g in record.gradings if g.points is not None])
            for record in (first, second)
        ]
        for index, pair in enumerate(zip(*votes, strict=True)):
            pairs[criterion_kind(index, first.k)].append(pair)
            pairs["all"].append(pair)
    return pairs


def _cohen_row(
    cell: Cell | None,
    graders: tuple[str, str],
    kind: str,
    pairs: Sequence[tuple[int, int]],
    shared: Sequence[tuple[GradedGeneration, GradedGeneration]],
) -> dict[str, Any]:
    confusion = [[0, 0], [0, 0]]
    for first, second in pairs:
        confusion[first][second] += 1
    row = _cell_fields(cell) | {"statistic": "cohen", "graders": list(graders), "criterion": kind}
    row |= {"n": len(pairs), "kappa": cohen_kappa_of(confusion)}
    row["percent_agreement"] = 100 * (confusion[0][0] + confusion[1][1]) / len(pairs) if pairs else None
    row["confusion"] = confusion
    row["metrics"] = {
        grader: _metrics([members[side] for members in shared]) for side, grader in enumerate(graders)
    }
    return row


def cohen_kappa_of(confusion: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa of a 2x2 table (rows: first grader's point 0/1, columns: second's); None when
    undefined (both graders gave one and the same value everywhere)."""
    n = sum(map(sum, confusion))
    first_ones, second_ones = sum(confusion[1]), confusion[0][1] + confusion[1][1]
    chance = (first_ones * second_ones + (n - first_ones) * (n - second_ones)) / n**2 if n else 1.0
    if chance == 1.0:
        return None
    from statsmodels.stats.inter_rater import cohens_kappa

    return float(cohens_kappa([list(row) for row in confusion]).kappa)


def _metrics(records: Sequence[GradedGeneration]) -> dict[str, float | None]:
    """One grader's SKILL-MIX metrics on the shared generations, scored as `compare` scores them."""
    options = ScoringOptions()
    summary = summarize((score_generation(r, options) for r in records), options.generation_aggregate)
    return {"n": summary.n} | {name: getattr(summary, name) for name in METRIC_NAMES}


# ---- command --------------------------------------------------------------------------------------------


def print_agreement(rows: Sequence[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for statistic, title in (
        ("fleiss", "agreement between one grader's grading rounds: Fleiss' kappa, % unanimous"),
        ("cohen", "agreement between two graders on majority-voted points: Cohen's kappa, % agreeing"),
    ):
        chosen = [row for row in rows if row["statistic"] == statistic]
        if not chosen:
            continue
        table = Table(title=title, caption="kappa: 1 perfect, 0 chance level; '-' undefined (no variation)")
        columns = ["run", "step", "setting", "k", "graders", "criterion", "n", "kappa", "% agree"]
        for column in columns:
            table.add_column(
                column, justify="right" if column in ("step", "k", "n", "kappa", "% agree") else "left"
            )
        for row in chosen:
            cells = [
                "pooled" if row["scope"] == "pooled" and c == "run" else _cell(row[c]) for c in columns[:4]
            ]
            cells += [
                " vs ".join(row["graders"]),
                row["criterion"],
                str(row["n"]),
                _number(row["kappa"], ".3f"),
            ]
            cells.append(_number(row["percent_agreement"], ".1f"))
            table.add_row(*cells)
        console.print(table)
    for row in rows:
        if row["statistic"] == "cohen" and row["criterion"] == "all":
            where = "pooled" if row["scope"] == "pooled" else f"{row['run']} {row['setting']} k={row['k']}"
            sides = "; ".join(
                f"{grader}: " + ", ".join(f"{name} {_number(metrics[name], '.3f')}" for name in METRIC_NAMES)
                for grader, metrics in row["metrics"].items()
            )
            console.print(f"metrics on the shared generations, {where}: {sides}")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def agreement(paths: Sequence[Path], json: bool = False) -> None:
    rows = agreement_rows(paths)
    if not rows:
        logger.warning("no generation with two or more scored grading rounds, nor one graded by two graders")
    if json:
        sys.stdout.write(json_lib.dumps(rows, indent=2) + "\n")
    else:
        print_agreement(rows)


def agreement_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="cli.py agreement",
        description=(
            "Grader agreement on SKILL-MIX gradings: Fleiss' kappa between one grader's grading rounds and "
            "Cohen's kappa between two graders of the same generations, per rubric criterion kind."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help=(
            "Evaluation outputs (a folder, or records files: records.jsonl and the "
            "records.graded-by-<grader>.jsonl that `cli.py grade` wrote beside it) or reference-layout "
            "folders."
        ),
    )
    parser.add_argument(
        "--json", type=bool, nargs="?", const=True, default=False, help="Print one JSON document (rows)."
    )
    return parser


def main(argv: list[str]) -> None:
    agreement(**agreement_parser().parse_args(argv).as_dict())
