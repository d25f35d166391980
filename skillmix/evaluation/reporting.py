"""From one checkpoint's records to its metrics: the protocol layer's aggregation, the names they are logged
under (`skillmix/<setting>/k<k>/<metric>`), and the metrics JSON written beside the records.

The records are read back through `skillmix.evaluation.reader`, the reader `cli.py compare` uses, so a logged
number and the number `compare` prints for the same step are one computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from skillmix.evaluation.reader import graded_generation
from skillmix.metrics import METRIC_NAMES, ScoringOptions, Summary, aggregate

SUMMARY_FIELDS = (
    *METRIC_NAMES,
    *(f"{name}_se" for name in METRIC_NAMES),
    "n",
    "gradings",
    "unscored",
    "unscored_combinations",
)


def summarize_records(
    records: Sequence[dict[str, Any]], options: ScoringOptions
) -> list[tuple[str, int, Summary]]:
    """(setting, k, summary) per group, in the order setting, k."""
    graded = [graded_generation(record, f"record {i + 1}") for i, record in enumerate(records)]
    rows = [(key[1], key[3], summary) for key, summary in aggregate(graded, options).items()]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def logged_metrics(groups: Sequence[tuple[str, int, Summary]]) -> dict[str, float]:
    """`skillmix/<setting>/k<k>/<field>` for every defined value (an SE below 2 combinations is not)."""
    metrics = {}
    for setting, k, summary in groups:
        for name in SUMMARY_FIELDS:
            value = getattr(summary, name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                metrics[f"skillmix/{setting}/k{k}/{name}"] = float(value)
    return metrics


def metrics_document(
    groups: Sequence[tuple[str, int, Summary]],
    *,
    run: str,
    step: int,
    checkpoint: str | None,
    options: ScoringOptions,
    planned: int,
    failed: int,
    grading_summary: str,
    seen_in_training: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """What `metrics.json` holds: one entry per (setting, k), the logged names, and how complete it is;
    `seen_in_training` ("<setting>/k<k>" -> count) says how many planned combinations the training files
    hold."""
    seen = seen_in_training or {}
    graded = sum(summary.gradings for _, _, summary in groups)
    return {
        "run": run,
        "step": step,
        "checkpoint": checkpoint,
        "scoring": asdict(options),
        "complete": failed == 0,
        "planned_generations": planned,
        "failed_generations": failed,
        "gradings": graded,
        "grading": grading_summary,
        "groups": [
            {"setting": setting, "k": k, **{name: getattr(summary, name) for name in SUMMARY_FIELDS}}
            | {"seen_in_training": seen.get(f"{setting}/k{k}"), "warnings": summary.warnings}
            for setting, k, summary in groups
        ],
        "logged": logged_metrics(groups),
    }


def headline(metrics: Mapping[str, Any]) -> str:
    """One line of a step's metrics document: full marks per (setting, k), as the commands print it."""
    cells = [
        f"{group['setting']} k={group['k']}: full marks {group['full_marks']:.3f} (n={group['n']})"
        for group in metrics["groups"]
        if group["full_marks"] is not None
    ]
    return f"SKILL-MIX at step {metrics['step']}: " + ("; ".join(cells) or "no scored combinations")
