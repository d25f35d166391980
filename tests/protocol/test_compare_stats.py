"""Intervals and paired tests in `compare`, pinned to values computed by hand (binomial sums, Holm's rule)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.compare import compare_rows, rows_from_records
from skillmix.compare_stats import multiple_comparison_note
from skillmix.graded import GradedGeneration, Grading
from skillmix.intervals import BootstrapSettings, bootstrap_ci
from skillmix.metrics import ScoringOptions
from skillmix.paired_tests import MCNEMAR, WILCOXON, holm, mcnemar_exact, paired_test, significance_marker

from .conftest import REFERENCE_DIR, requires_reference

REPO = Path(__file__).resolve().parents[2]
SKILLS = ("metaphor", "red herring")


def _record(run: str, checkpoint: str | None, topic: str, points: tuple[int, ...]) -> GradedGeneration:
    grading = Grading(points, None, "gpt-4")
    return GradedGeneration(run, "heldout", 2, SKILLS, topic, 1, "A short answer.", (grading,), checkpoint)


def _records(
    run: str, checkpoint: str | None, full_marks: set[int], count: int = 20
) -> list[GradedGeneration]:
    return [
        _record(run, checkpoint, f"topic {i}", (1,) * 5 if i in full_marks else (0, 0, 1, 1, 1))
        for i in range(count)
    ]


def _exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar: twice the binomial(b + c, 1/2) tail at min(b, c), capped at 1."""
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)


def test_exact_mcnemar_on_known_discordant_pairs() -> None:
    before = [1] * 5 + [0] * 15
    after = [1, 1, 1, 0, 0] + [1] * 11 + [0] * 4  # 2 worse (b), 11 better (c)
    assert _exact_mcnemar(2, 11) == pytest.approx(184 / 8192)
    assert mcnemar_exact(before, after) == pytest.approx(184 / 8192)
    assert paired_test(before, after) == (pytest.approx(184 / 8192), MCNEMAR)
    assert mcnemar_exact(before, before) == 1.0  # nothing changed: nothing to test


def test_wilcoxon_for_non_binary_values_matches_the_exact_signed_rank_distribution() -> None:
    before = [0.0, 0.0, 0.0, 0.0, 0.0]
    after = [0.2, 0.4, 0.6, 0.8, 1.0]  # all five ranks positive: P = 2 / 2^5 two-sided
    p_value, test = paired_test(before, after)
    assert (p_value, test) == (pytest.approx(2 / 32), WILCOXON)


def test_holm_adjustment_and_markers() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert [significance_marker(p) for p in (0.0004, 0.004, 0.04, 0.4, None)] == ["***", "**", "*", "", ""]


def test_bootstrap_interval_contains_the_estimate_and_is_seeded() -> None:
    values = [1.0] * 50 + [0.0] * 50
    low, high = bootstrap_ci(values)  # type: ignore[misc]
    assert low < 0.5 < high
    assert low == pytest.approx(0.5 - 1.96 * 0.05, abs=0.02) and high == pytest.approx(
        0.5 + 1.96 * 0.05, abs=0.02
    )
    assert bootstrap_ci(values) == [low, high]
    spread = [(i % 7) / 7 for i in range(30)]  # many distinct means: another seed moves the percentiles
    assert bootstrap_ci(spread, BootstrapSettings(seed=1)) != bootstrap_ci(spread)
    assert bootstrap_ci([1.0] * 10) == [1.0, 1.0]
    assert bootstrap_ci([1.0]) is None


def test_checkpoint_rows_carry_intervals_and_p_values_against_step_zero() -> None:
    records = _records("m", "0", set(range(5))) + _records("m", "100", {0, 1, 2, *range(5, 16)})
    rows = {row["step"]: row for row in rows_from_records(records, ScoringOptions())}
    later = rows[100]
    assert later["full_marks"] == pytest.approx(14 / 20)
    assert later["full_marks_p_value"] == pytest.approx(_exact_mcnemar(2, 11))
    assert later["all_skills_p_value"] == pytest.approx(_exact_mcnemar(2, 11))
    assert later["p_value_tests"] == {
        "full_marks": MCNEMAR,
        "all_skills": MCNEMAR,
        "skills_fraction": MCNEMAR,
    }
    for name in ("full_marks", "all_skills", "skills_fraction"):
        low, high = later[f"{name}_ci95"]
        assert low <= later[name] <= high
        assert later[f"{name}_p_value_holm"] == pytest.approx(later[f"{name}_p_value"])  # one test each
    assert (
        "full_marks_p_value" not in rows[0]
        and rows[0]["full_marks_ci95"][0] < 0.25 < rows[0]["full_marks_ci95"][1]
    )
    assert later["ci_method"] == "percentile bootstrap over combinations, 2000 resamples, seed 0, 95%"
    assert multiple_comparison_note(list(rows.values())) is None


def test_two_runs_on_the_same_combinations_are_tested_against_the_baseline_run() -> None:
    records = _records("a", None, set(range(5))) + _records("b", None, set(range(15)))
    rows = {row["run"]: row for row in rows_from_records(records, ScoringOptions())}
    assert "baseline_run" not in rows["a"]
    b = rows["b"]
    assert (b["baseline_run"], b["run_paired_n"]) == ("a", 20)
    assert b["full_marks_run_delta"] == pytest.approx(0.5)
    assert b["full_marks_run_p_value"] == pytest.approx(_exact_mcnemar(0, 10))
    swapped = {row["run"]: row for row in rows_from_records(records, ScoringOptions(), baseline_run="b")}
    assert swapped["a"]["full_marks_run_delta"] == pytest.approx(-0.5)


def test_many_tested_cells_get_a_note_and_holm_adjusted_p_values() -> None:
    records = _records("m", "0", set(range(5)))
    for step, extra in ((100, 11), (200, 13), (300, 3)):
        records += _records("m", str(step), {*range(5), *range(5, 5 + extra)})
    rows = rows_from_records(records, ScoringOptions())
    tested = [row for row in rows if "full_marks_p_value" in row]
    raw = [row["full_marks_p_value"] for row in tested]
    assert [row["full_marks_p_value_holm"] for row in tested] == pytest.approx(holm(raw))
    assert raw == pytest.approx([_exact_mcnemar(0, 11), _exact_mcnemar(0, 13), _exact_mcnemar(0, 3)])
    note = multiple_comparison_note(rows)
    assert note is not None and note.startswith("3 (run, setting, k, step) cells were tested")


@requires_reference
def test_reference_rows_carry_intervals_around_their_estimates() -> None:
    rows = {row["run"]: row for row in compare_rows([REFERENCE_DIR / "test"], ScoringOptions())}
    gpt4 = rows["gpt-4"]
    for name, estimate in (("full_marks", 0.6), ("all_skills", 0.6), ("skills_fraction", 13 / 15)):
        low, high = gpt4[f"{name}_ci95"]
        assert 0.0 <= low < estimate < high <= 1.0
    assert gpt4["full_marks_ci95"] == [0.2, 1.0]  # 5 combinations, 3 with full marks: 0/5 .. 5/5 steps
    assert rows["llama2-7b-chat"]["full_marks_ci95"] is None  # no scored combination
    assert not any("baseline_run" in row for row in rows.values())  # the others share no scored combination


@pytest.mark.slow
@requires_reference
def test_command_line_json_has_the_interval_fields() -> None:
    command = [
        sys.executable,
        "cli.py",
        "compare",
        str(REFERENCE_DIR / "test"),
        "--json",
        "--bootstrap_seed",
        "3",
    ]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    gpt4 = next(row for row in json.loads(finished.stdout) if row["run"] == "gpt-4")
    assert gpt4["ci_method"].endswith("seed 3, 95%") and len(gpt4["skills_fraction_ci95"]) == 2


def test_difference_tables_mark_significant_differences(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from skillmix.checkpoint_deltas import print_deltas
    from skillmix.compare_stats import print_run_deltas

    monkeypatch.setenv("COLUMNS", "200")  # one line per row

    records = _records("m", "0", set(range(5))) + _records("m", "100", {0, 1, 2, *range(5, 16)})
    print_deltas(rows_from_records(records, ScoringOptions()))
    assert "+0.450 ± 0.153*" in capsys.readouterr().out  # p = 0.022: one star
    records = _records("a", None, set(range(5))) + _records("b", None, set(range(15)))
    print_run_deltas(rows_from_records(records, ScoringOptions()))
    assert "+0.500**" in capsys.readouterr().out  # 10 better, none worse: p = 2 / 2^10
