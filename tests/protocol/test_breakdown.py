"""`compare --by skill|category|criterion`: per-skill, per-category and per-criterion rates, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillmix.breakdown import breakdown_rows, criterion_kind
from skillmix.compare import compare
from skillmix.graded import GradedGeneration, Grading
from skillmix.splits import Splits

from .conftest import REFERENCE_DIR, requires_reference


def _generation(
    skills: tuple[str, ...], points: tuple[int, ...], answer: str = "A short answer."
) -> GradedGeneration:
    grading = Grading(points, None, "gpt-4")
    return GradedGeneration("m", "all", len(skills), skills, f"topic {points}", 1, answer, (grading,), "100")


RECORDS = [
    _generation(("metaphor", "modus tollens"), (1, 0, 1, 1, 1)),
    _generation(("metaphor", "red herring"), (1, 1, 1, 0, 1)),
    _generation(("simile", "modus tollens"), (0, 1, 1, 1, 1)),
    _generation(
        ("metaphor", "simile"), (1, 1, 1, 1, 1), answer="It is a metaphor."
    ),  # named: metaphor loses it
]


def _by(rows: list[dict], field: str) -> dict:
    return {row[field]: row for row in rows}


def test_criterion_kinds_in_rubric_order() -> None:
    assert [criterion_kind(i, 3) for i in range(6)] == ["skill", "skill", "skill", "topic", "sense", "length"]


def test_per_skill_rates_count_the_generations_that_contain_the_skill() -> None:
    rows = _by(breakdown_rows(RECORDS, "skill"), "skill")
    assert (rows["metaphor"]["n"], rows["metaphor"]["earned_rate"]) == (3, pytest.approx(2 / 3))
    assert (rows["modus tollens"]["earned_rate"], rows["simile"]["earned_rate"]) == (0.5, 0.5)
    assert rows["red herring"]["failure_rate"] == 0.0
    assert (rows["metaphor"]["category"], rows["metaphor"]["split"]) == ("literary", "train")
    assert (rows["modus tollens"]["category"], rows["modus tollens"]["split"]) == ("logical", "heldout")


def test_per_category_rows_and_the_train_vs_heldout_split() -> None:
    rows = breakdown_rows(RECORDS, "category")
    categories = _by([row for row in rows if row["category"] is not None], "category")
    assert categories["literary"]["earned_rate"] == pytest.approx(3 / 5)  # metaphor 2/3, simile 1/2
    assert categories["rhetorical"]["n"] == 1 and categories["logical"]["n"] == 2
    splits = _by([row for row in rows if row["category"] is None], "split")
    assert (splits["train"]["n"], splits["train"]["earned_rate"]) == (6, pytest.approx(4 / 6))
    assert (splits["heldout"]["n"], splits["heldout"]["earned_rate"]) == (2, 0.5)


def test_a_saved_split_decides_which_skills_are_held_out(tmp_path: Path) -> None:
    Splits(("modus tollens",), ("metaphor", "simile", "red herring"), (), (), 0, ("logical",)).save(
        tmp_path / "splits.json"
    )
    rows = _by(breakdown_rows(RECORDS, "skill", paths=[tmp_path / "step000100"]), "skill")
    assert rows["metaphor"]["split"] == "heldout" and rows["modus tollens"]["split"] == "train"


def test_per_criterion_failure_rates() -> None:
    rows = _by(breakdown_rows(RECORDS, "criterion"), "criterion")
    assert rows["skill"]["n"] == 8 and rows["skill"]["failure_rate"] == pytest.approx(3 / 8)
    assert rows["topic"]["failure_rate"] == 0.0 and rows["sense"]["failure_rate"] == pytest.approx(1 / 4)
    assert rows["length"]["failure_rate"] == 0.0  # the programmatic count: one sentence each


@requires_reference
def test_reference_breakdown_by_category_and_criterion(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [REFERENCE_DIR / "test"]
    compare(paths, json=True, by="criterion")
    criteria = {row["criterion"]: row for row in json.loads(capsys.readouterr().out) if row["run"] == "gpt-4"}
    assert (criteria["skill"]["n"], criteria["skill"]["failure_rate"]) == (30, pytest.approx(7 / 30))
    compare(paths, json=True, by="category", skills_csv=REFERENCE_DIR / "skills.csv")
    rows = [row for row in json.loads(capsys.readouterr().out) if row["run"] == "gpt-4"]
    splits = {row["split"]: row for row in rows if row["category"] is None}
    assert (splits["train"]["n"], splits["train"]["earned_rate"]) == (14, pytest.approx(12 / 14))
    assert (splits["heldout"]["n"], splits["heldout"]["earned_rate"]) == (16, pytest.approx(11 / 16))
    assert sum(row["n"] for row in rows if row["category"] is not None) == 30
