"""What `compare` adds to judge its numbers: a 95% bootstrap interval per metric and row, paired tests of
each checkpoint against the base model (step 0) and of each run against a baseline run on the same
combinations, Holm-adjusted p-values over everything tested, and the note that goes with them.

Row fields added (see docs/statistics.md):
- every row: `<metric>_ci95` ([low, high] or None below 2 combinations) and `ci_method`;
- a checkpoint after step 0 of a run that has step 0: `<metric>_p_value` (vs step 0, paired over the
  combinations both scored, the same ones as `<metric>_delta`) and `<metric>_p_value_holm`;
- a row whose (setting, checkpoint, k, seed, grader) cell also has the baseline run, with combinations
  both scored: `baseline_run`,
  `run_paired_n`, `<metric>_run_delta`, `<metric>_run_p_value`, `<metric>_run_p_value_holm`;
- `p_value_tests`: per metric, the test used (exact McNemar or Wilcoxon signed-rank).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from skillmix.checkpoint_deltas import BASE_STEP, _per_combination
from skillmix.graded import GradedGeneration
from skillmix.intervals import DEFAULT_BOOTSTRAP, BootstrapSettings, bootstrap_ci
from skillmix.metrics import METRIC_NAMES, ScoringOptions
from skillmix.paired_tests import holm, paired_test

Values = dict[Hashable, dict[str, float]]
"""Per combination: its metric values."""


def _key(row: dict[str, Any], run: str | None = None, checkpoint: str | None = None) -> tuple:
    checkpoint = row["checkpoint"] if checkpoint is None else checkpoint
    return (run or row["run"], row["setting"], checkpoint, row["k"], row["seed"], row["grader"])


def add_intervals_and_tests(
    rows: list[dict[str, Any]],
    records: Sequence[GradedGeneration],
    options: ScoringOptions,
    bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP,
    baseline_run: str | None = None,
) -> list[dict[str, Any]]:
    """`rows` (as `compare_rows` makes them, with `step`) with the fields above; the baseline run is
    `baseline_run` or else the first run (in row order: by name) with a scored combination."""
    values = _per_combination(records, options)
    baseline = baseline_run or next((row["run"] for row in rows if row["n"]), None)
    for row in rows:
        this = values.get(_key(row), {})
        row["ci_method"] = bootstrap.method
        for name in METRIC_NAMES:
            row[f"{name}_ci95"] = bootstrap_ci([this[c][name] for c in sorted(this, key=repr)], bootstrap)
        tests: dict[str, str] = {}
        base_key = _key(row, checkpoint=str(BASE_STEP))
        if row["step"] not in (None, BASE_STEP) and values.get(base_key, {}).keys() & this.keys():
            _paired(row, values[base_key], this, "", tests)
        run_key = _key(row, run=baseline)
        if row["run"] != baseline and values.get(run_key, {}).keys() & this.keys():
            row["baseline_run"] = baseline
            row["run_paired_n"] = _paired(row, values[run_key], this, "_run", tests)
        if tests:
            row["p_value_tests"] = tests
    _add_holm(rows)
    return rows


def _paired(row: dict[str, Any], base: Values, this: Values, prefix: str, tests: dict[str, str]) -> int:
    shared = sorted(base.keys() & this.keys(), key=repr)
    for name in METRIC_NAMES:
        before, after = [base[c][name] for c in shared], [this[c][name] for c in shared]
        row[f"{name}{prefix}_p_value"], tests[name] = paired_test(before, after)
        if prefix:
            row[f"{name}{prefix}_delta"] = (sum(after) - sum(before)) / len(shared) if shared else None
    return len(shared)


def _add_holm(rows: list[dict[str, Any]]) -> None:
    """One family per metric: every p-value of that metric in this output (vs step 0 and vs the run)."""
    for name in METRIC_NAMES:
        places = [
            (row, field)
            for row in rows
            for field in (f"{name}_p_value", f"{name}_run_p_value")  # in row order
            if row.get(field) is not None
        ]
        for (row, field), adjusted in zip(places, holm([row[field] for row, field in places]), strict=True):
            row[f"{field}_holm"] = adjusted


def tested_cells(rows: Sequence[dict[str, Any]]) -> int:
    """How many rows carry a paired test (per metric)."""
    return sum(1 for row in rows if "p_value_tests" in row)


def multiple_comparison_note(rows: Sequence[dict[str, Any]]) -> str | None:
    """A reminder when several cells are tested: by chance alone about 1 in 20 reaches p < 0.05."""
    cells = tested_cells(rows)
    if cells < 2:
        return None
    return (
        f"{cells} (run, setting, k, step) cells were tested per metric: at p < 0.05 about {cells * 0.05:.1f} "
        "would look significant by chance alone. Holm-adjusted p-values (controlling the chance of any "
        "false positive among them) are the `*_p_value_holm` fields of --json."
    )


def print_run_deltas(rows: Sequence[dict[str, Any]]) -> None:
    """A table of each run minus the baseline run, with the paired test's marker."""
    from rich.console import Console
    from rich.table import Table

    from skillmix.paired_tests import significance_marker

    paired = [row for row in rows if "baseline_run" in row]
    if not paired:
        return
    table = Table(
        title=f"difference to run {paired[0]['baseline_run']}, paired over shared combinations",
        caption="* p < 0.05, ** p < 0.01, *** p < 0.001 (paired test, unadjusted; see p_value_tests)",
    )
    for column in ("run", "setting", "step", "k", "seed", "paired n"):
        table.add_column(column, justify="left" if column in ("run", "setting") else "right", overflow="fold")
    for name in METRIC_NAMES:
        table.add_column(f"Δ {name.replace('_', ' ')}", justify="right")
    for row in paired:
        values = (row["run"], row["setting"], row.get("step", row["checkpoint"]), row["k"], row["seed"])
        cells = [str(value) if value is not None else "-" for value in values]
        cells.append(str(row["run_paired_n"]))
        for name in METRIC_NAMES:
            delta = row[f"{name}_run_delta"]
            marker = significance_marker(row[f"{name}_run_p_value"])
            cells.append("-" if delta is None else f"{delta:+.3f}{marker}")
        table.add_row(*cells)
    Console().print(table)
