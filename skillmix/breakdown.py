"""Where the model fails (`compare --by skill|category|criterion`): SKILL-MIX points broken down.

Every scored generation contributes its points as the metrics use them (`skillmix.metrics.generation_points`:
majority vote, programmatic length, name penalty). Units are generations (each generation round of each
combination), pooled over k for skills and categories, where a single k holds too few combinations per skill:
- `skill`: per (run, checkpoint, setting, skill), the rate at which the skill's point is earned in the
  generations whose combination contains it, with the skill's category and split (training / held-out);
- `category`: the same per skill category, plus one row per split (training vs held-out skills, the
  question of the paper's setting III, `all`);
- `criterion`: per (run, checkpoint, setting, k, rubric criterion kind: skill, topic, sense, length), the
  failure rate: the share of those points not earned.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from skillmix.catalog import load_catalog
from skillmix.graded import GradedGeneration
from skillmix.metrics import ScoringOptions, generation_points
from skillmix.splits import DEFAULT_TRAIN_CATEGORIES, Splits

logger = logging.getLogger(__name__)

Breakdown = Literal["skill", "category", "criterion"]
CRITERION_KINDS = ("skill", "topic", "sense", "length")
SPLITS_FILE = "splits.json"


def criterion_kind(index: int, k: int) -> str:
    """The kind of rubric point `index` of k+3: the k skills, then topic, sense, length."""
    return CRITERION_KINDS[0] if index < k else CRITERION_KINDS[index - k + 1]


def breakdown_rows(
    records: Sequence[GradedGeneration],
    by: Breakdown,
    options: ScoringOptions | None = None,
    paths: Sequence[Path] = (),
    skills_csv: Path | None = None,
) -> list[dict[str, Any]]:
    """JSON-ready rows of the `by` view. `paths` are searched for the run's `splits.json` (the split used);
    without one, a skill is held-out when its category is not one of the default training categories."""
    options = options or ScoringOptions()
    if by == "criterion":
        return _criterion_rows(records, options)
    categories = {skill.name: skill.category for skill in load_catalog(skills_csv).skills}
    heldout = _heldout_skills(paths)
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    combinations: dict[tuple, set] = defaultdict(set)
    for record in records:
        points = generation_points(record, options)
        if points is None:
            continue
        for skill, point in zip(record.skills, points[: record.k], strict=True):
            category = categories.get(skill)
            split = _split(skill, category, heldout)
            # (label, category) of each row this point counts in; a category view also has a row per split
            keys = [(skill, category)] if by == "skill" else [(category or "unknown", None), (None, None)]
            for label, row_category in keys:
                key = (record.run, record.checkpoint, record.setting, label, row_category, split)
                counts[key][0] += point
                counts[key][1] += 1
                combinations[key].add(record.combination)
    rows = []
    for key, (earned, n) in counts.items():
        run, checkpoint, setting, label, category, split = key
        row: dict[str, Any] = {"run": run, "checkpoint": checkpoint, "step": _step(checkpoint)}
        row["setting"] = setting
        row |= {"skill": label, "category": category} if by == "skill" else {"category": label}
        row |= {"split": split, "n": n, "combinations": len(combinations[key])}
        row |= {"earned_rate": earned / n, "failure_rate": 1 - earned / n}
        rows.append(row)
    label_field = "skill" if by == "skill" else "category"
    return sorted(
        rows,
        key=lambda r: (r["run"], r["step"] or 0, r["setting"], r[label_field] is None, repr(r[label_field])),
    )


def _criterion_rows(records: Sequence[GradedGeneration], options: ScoringOptions) -> list[dict[str, Any]]:
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        points = generation_points(record, options)
        if points is None:
            continue
        for index, point in enumerate(points):
            key = (record.run, record.checkpoint, record.setting, record.k, criterion_kind(index, record.k))
            counts[key][0] += point
            counts[key][1] += 1
    rows = [
        {
            "run": run,
            "checkpoint": checkpoint,
            "step": _step(checkpoint),
            "setting": setting,
            "k": k,
            "criterion": kind,
            "n": n,
            "earned_rate": earned / n,
            "failure_rate": 1 - earned / n,
        }
        for (run, checkpoint, setting, k, kind), (earned, n) in counts.items()
    ]
    order = {kind: i for i, kind in enumerate(CRITERION_KINDS)}
    return sorted(rows, key=lambda r: (r["run"], r["step"] or 0, r["setting"], r["k"], order[r["criterion"]]))


def _step(checkpoint: str | None) -> int | None:
    return int(checkpoint) if checkpoint is not None and checkpoint.isdigit() else None


def _split(skill: str, category: str | None, heldout: set[str] | None) -> str | None:
    if heldout is not None:
        return "heldout" if skill in heldout else "train"
    if category is None:
        return None
    return "train" if category in DEFAULT_TRAIN_CATEGORIES else "heldout"


def _heldout_skills(paths: Sequence[Path]) -> set[str] | None:
    """Held-out skills of the first `splits.json` in or above a path (an evaluation output keeps one)."""
    for path in map(Path, paths):
        for folder in [path, *path.parents][:4]:
            if (folder / SPLITS_FILE).is_file():
                logger.info("skill splits from %s", folder / SPLITS_FILE)
                return set(Splits.load(folder / SPLITS_FILE).heldout_skills)
    return None


def print_breakdown(rows: Sequence[dict[str, Any]], by: Breakdown) -> None:
    from rich.console import Console
    from rich.table import Table

    label = {"skill": "skill", "category": "category", "criterion": "criterion"}[by]
    columns = ["run", "step", "setting"] + (["k"] if by == "criterion" else []) + [label]
    columns += (["category"] if by == "skill" else []) + ([] if by == "criterion" else ["split"])
    rate = "failure rate" if by == "criterion" else "point earned"
    table = Table(title=f"SKILL-MIX points by {by}" + (" (pooled over k)" if by != "criterion" else ""))
    for column in [*columns, "n", rate]:
        table.add_column(column, justify="right" if column in ("step", "k", "n", rate) else "left")
    for row in rows:
        cells = ["-" if row[c] is None else str(row[c]) for c in columns]
        if by == "category" and row["category"] is None:
            cells[columns.index("category")] = f"({row['split']} skills)"
        value = row["failure_rate"] if by == "criterion" else row["earned_rate"]
        table.add_row(*cells, str(row["n"]), f"{value:.3f}")
    Console().print(table)
