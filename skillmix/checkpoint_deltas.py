"""What `compare` adds for this project's evaluation outputs: each row's training `step`, the difference of
every checkpoint to the base model (step 0) with a paired standard error, a table of those differences, and
a plot of the metrics over steps.

Every checkpoint of a run is evaluated on the same seeded combinations, so the difference is taken per
combination (its value after combining its generation rounds, as the metrics do) over the combinations both
steps scored, and its standard error is that of the mean of those paired differences: much tighter than
the two unpaired standard errors would suggest, because a combination's difficulty cancels out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from skillmix.graded import GradedGeneration
from skillmix.metrics import METRIC_NAMES, ScoringOptions, _mean_and_se, score_generation, summarize

BASE_STEP = 0


def row_step(row: dict[str, Any]) -> int | None:
    """The training step of a row from this project's records (their `checkpoint` is the step)."""
    checkpoint = row.get("checkpoint")
    return int(checkpoint) if isinstance(checkpoint, str) and checkpoint.isdigit() else None


def add_steps_and_deltas(
    rows: list[dict[str, Any]], records: Sequence[GradedGeneration], options: ScoringOptions
) -> list[dict[str, Any]]:
    """`rows` with `step` set, ordered by step within (run, setting, k), and `<metric>_delta`,
    `<metric>_delta_se` and `paired_n` on the rows of a step > 0 whose run also has step 0."""
    values = _per_combination(records, options)
    for row in rows:
        row["step"] = row_step(row)
        base_key = (row["run"], row["setting"], str(BASE_STEP), row["k"], row["seed"], row["grader"])
        this_key = (row["run"], row["setting"], row["checkpoint"], row["k"], row["seed"], row["grader"])
        if row["step"] in (None, BASE_STEP) or base_key not in values:
            continue
        base, this = values[base_key], values[this_key]
        shared = sorted(base.keys() & this.keys(), key=repr)
        row["paired_n"] = len(shared)
        for name in METRIC_NAMES:
            differences = [this[c][name] - base[c][name] for c in shared]
            row[f"{name}_delta"], row[f"{name}_delta_se"] = _mean_and_se(differences)
    return sorted(rows, key=lambda r: (r["step"] is None, r["run"], r["setting"], r["k"], r["step"] or 0))


def _per_combination(
    records: Sequence[GradedGeneration], options: ScoringOptions
) -> dict[tuple, dict[Hashable, dict[str, float]]]:
    """Per record group, per scored combination: its metric values, reduced over generation rounds by the
    protocol's own `summarize` (applied to that one combination)."""
    grouped: dict[tuple, dict[Hashable, list[GradedGeneration]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.group][record.combination].append(record)
    values: dict[tuple, dict[Hashable, dict[str, float]]] = {}
    for group, combinations in grouped.items():
        values[group] = {}
        for combination, members in combinations.items():
            summary = summarize([score_generation(r, options) for r in members], options.generation_aggregate)
            if summary.n:
                values[group][combination] = {name: getattr(summary, name) for name in METRIC_NAMES}
    return values


def print_deltas(rows: Sequence[dict[str, Any]]) -> None:
    """A second table: each checkpoint minus the base model, ± the paired standard error."""
    from rich.console import Console
    from rich.table import Table

    with_delta = [row for row in rows if "paired_n" in row]
    if not with_delta:
        return
    from skillmix.paired_tests import significance_marker

    table = Table(
        title="difference to the base model (step 0), paired over shared combinations",
        caption="* p < 0.05, ** p < 0.01, *** p < 0.001 (paired test, unadjusted; see p_value_tests)",
    )
    for column in ("run", "setting", "k", "step", "paired n"):
        table.add_column(column, justify="left" if column in ("run", "setting") else "right")
    for name in METRIC_NAMES:
        table.add_column(f"Δ {name.replace('_', ' ')}", justify="right")
    for row in with_delta:
        cells = [str(row["run"]), str(row["setting"]), str(row["k"]), str(row["step"]), str(row["paired_n"])]
        for name in METRIC_NAMES:
            delta, se = row[f"{name}_delta"], row[f"{name}_delta_se"]
            marker = significance_marker(row.get(f"{name}_p_value"))
            cells.append(
                "-" if delta is None else f"{delta:+.3f}" + ("" if se is None else f" ± {se:.3f}") + marker
            )
        table.add_row(*cells)
    Console().print(table)


def plot_steps(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Metrics vs. step: one panel per (metric, setting), one line per (run, k), error bars = SE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stepped = [row for row in rows if row["step"] is not None and row["n"]]
    settings = sorted({row["setting"] for row in stepped})
    figure, axes = plt.subplots(
        len(METRIC_NAMES),
        len(settings),
        figsize=(4.5 * len(settings), 3.2 * len(METRIC_NAMES)),
        squeeze=False,
    )
    lines: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in stepped:
        lines[(row["setting"], row["run"], row["k"])].append(row)
    for column, setting in enumerate(settings):
        for line_key, members in sorted(lines.items(), key=lambda item: repr(item[0])):
            if line_key[0] != setting:
                continue
            members.sort(key=lambda r: r["step"])
            runs = {key[1] for key in lines}
            label = f"k={line_key[2]}" + (f" {line_key[1]}" if len(runs) > 1 else "")
            for row_index, name in enumerate(METRIC_NAMES):
                axes[row_index][column].errorbar(
                    [m["step"] for m in members],
                    [m[name] for m in members],
                    yerr=[m[f"{name}_se"] or 0.0 for m in members],
                    marker="o",
                    capsize=3,
                    label=label,
                )
        for row_index, name in enumerate(METRIC_NAMES):
            axis = axes[row_index][column]
            axis.set_title(f"{setting}: {name.replace('_', ' ')}")
            axis.set_xlabel("step")
            axis.set_ylim(-0.02, 1.02)
            axis.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
