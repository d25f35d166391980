"""How `compare` shows its rows: a rich table on the terminal, and a PNG plot."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from skillmix.metrics import METRIC_NAMES

_TITLES = {"full_marks": "full marks", "all_skills": "all skills", "skills_fraction": "skills fraction"}


def _with_se(value: float | None, se: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.3f}" if se is None else f"{value:.3f} ± {se:.3f}"
    return text if ci is None else f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]"


WIDE = 120
"""Terminal columns from which a row shows its bootstrap interval; narrower, value and error are stacked."""


def print_table(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console()
    narrow = console.width < WIDE
    compat = any(row["reference_compat"] for row in rows)
    title = "SKILL-MIX" + (" (reference-compatible: unscored gradings scored as 0)" if compat else "")
    caption = "value ± standard error" + (
        " (95% bootstrap intervals: --json, or a wider terminal)"
        if narrow
        else " [95% bootstrap interval over combinations]"
    )
    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, pad_edge=not narrow
    )
    for column in ("run", "setting", "step", "k", "seed", "grader", "n"):
        table.add_column(
            column,
            justify="right" if column in ("step", "k", "seed", "n") else "left",
            overflow="fold",
            min_width=len(column),
        )
    for name in METRIC_NAMES:
        header = _TITLES[name].replace(" ", "\n") if narrow else _TITLES[name]
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("unscored", justify="right", no_wrap=True)
    for row in rows:
        step = row.get("step", row["checkpoint"])
        cells = [str(value) if value is not None else "-" for value in (row["run"], row["setting"], step)]
        cells += [str(row[c]) if row[c] is not None else "-" for c in ("k", "seed", "grader")]
        cells.append(str(row["n"]))
        for name in METRIC_NAMES:
            if narrow:
                cells.append(_stacked(row[name], row[f"{name}_se"]))
            else:
                cells.append(_with_se(row[name], row[f"{name}_se"], row.get(f"{name}_ci95")))
        cells.append(f"{row['unscored']}/{row['gradings']}")
        table.add_row(*cells)
    console.print(table)
    for row in rows:
        for warning in row["warnings"]:
            console.print(f"[yellow]warning[/yellow] {row['run']} k={row['k']}: {warning}")


def _stacked(value: float | None, se: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if se is None else f"{value:.3f}\n±{se:.3f}"


def plot_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per metric: lines over checkpoints per (run, setting, k), or bars where there are none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["n"]:
            seed = f" seed {row['seed']}" if row["seed"] is not None else ""
            series[f"{row['run']} {row['setting']} k={row['k']}{seed}"].append(row)
    figure, axes = plt.subplots(1, len(METRIC_NAMES), figsize=(5 * len(METRIC_NAMES), 4), squeeze=False)
    for axis, name in zip(axes[0], METRIC_NAMES, strict=True):
        for position, (label, members) in enumerate(sorted(series.items())):
            values = [m[name] for m in members]
            errors = [m[f"{name}_se"] or 0.0 for m in members]
            checkpoints = [m["checkpoint"] for m in members]
            if all(c is not None for c in checkpoints) and len(members) > 1:
                steps = [_as_number(c, i) for i, c in enumerate(checkpoints)]
                axis.errorbar(steps, values, yerr=errors, marker="o", capsize=3, label=label)
                axis.set_xlabel("checkpoint")
            else:
                axis.bar([position], values[:1], yerr=errors[:1], capsize=3, label=label)
                axis.set_xticks([])
        axis.set_title(_TITLES[name])
        axis.set_ylim(0, 1)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _as_number(checkpoint: Any, index: int) -> float:
    """A checkpoint's step when it is one (or ends in one, "step=400"), else its position."""
    text = str(checkpoint)
    digits = "".join(ch if ch.isdigit() else " " for ch in text).split()
    return float(digits[-1]) if digits else float(index)
