"""Paired tests between two sets of per-combination values measured on the same combinations.

- Ratio of Full Marks and Ratio of All Skills are 0/1 per combination (with the paper's max over generation
  rounds): the exact McNemar test, a two-sided binomial test on the discordant combinations (improved in
  one, worse in the other), from `statsmodels`.
- Skills Fraction takes values in [0, 1]: the Wilcoxon signed-rank test on the per-combination differences,
  from `scipy` (combinations with no change are dropped, as Wilcoxon's original test does).
  With `generation_aggregate: mean` the binary metrics are no longer 0/1 and get the Wilcoxon test too.
- Several tests at once: Holm's step-down adjustment (`statsmodels.stats.multitest`), which keeps the chance
  of any false positive among them below the level.

A p-value of 1.0 means there was nothing to test (no combination changed).
"""

from __future__ import annotations

from collections.abc import Sequence

MCNEMAR = "exact McNemar"
WILCOXON = "Wilcoxon signed-rank"


def mcnemar_exact(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value of paired 0/1 outcomes."""
    from statsmodels.stats.contingency_tables import mcnemar

    table = [[0, 0], [0, 0]]
    for a, b in zip(before, after, strict=True):
        table[int(a)][int(b)] += 1
    if table[0][1] + table[1][0] == 0:
        return 1.0
    return float(mcnemar(table, exact=True).pvalue)


def wilcoxon_signed_rank(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences (zeros dropped)."""
    from scipy.stats import wilcoxon

    differences = [b - a for a, b in zip(before, after, strict=True)]
    if not any(differences):
        return 1.0
    return float(wilcoxon(differences, zero_method="wilcox").pvalue)


def is_binary(values: Sequence[float]) -> bool:
    return all(value in (0.0, 1.0) for value in values)


def paired_test(before: Sequence[float], after: Sequence[float]) -> tuple[float | None, str]:
    """(p-value, test name): exact McNemar for 0/1 values, Wilcoxon signed-rank otherwise; None if empty."""
    if not before:
        return None, ""
    if is_binary(before) and is_binary(after):
        return mcnemar_exact(before, after), MCNEMAR
    return wilcoxon_signed_rank(before, after), WILCOXON


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the same order."""
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]


def significance_marker(p_value: float | None) -> str:
    """ "***" below 0.001, "**" below 0.01, "*" below 0.05, else ""."""
    if p_value is None:
        return ""
    return "***" if p_value < 0.001 else "**" if p_value < 0.01 else "*" if p_value < 0.05 else ""
