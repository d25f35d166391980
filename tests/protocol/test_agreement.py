"""`cli.py agreement`: Fleiss' and Cohen's kappa pinned to hand-computed values and the reference gradings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.agreement import agreement_rows, cohen_kappa_of, fleiss_kappa_of, rows_from_records
from skillmix.graded import GradedGeneration, Grading

from .conftest import REFERENCE_DIR, requires_reference

REPO = Path(__file__).resolve().parents[2]
SKILLS = ("metaphor", "red herring")  # k = 2: five points per generation
JSON_FIELDS = {"run", "step", "setting", "k", "graders", "criterion", "kappa", "percent_agreement", "n"}


def _generation(topic: str, rounds: list[tuple[int, ...]], grader: str = "gpt-4") -> GradedGeneration:
    gradings = tuple(Grading(points, None, grader) for points in rounds)
    return GradedGeneration("m", "heldout", 2, SKILLS, topic, 1, "A short answer.", gradings, "100", 0)


def _row(rows: list[dict], statistic: str, criterion: str, scope: str = "cell") -> dict:
    (row,) = [
        r for r in rows if (r["statistic"], r["criterion"], r["scope"]) == (statistic, criterion, scope)
    ]
    return row


def test_fleiss_kappa_of_a_hand_computed_table() -> None:
    # 4 subjects, 3 raters; ones per subject 3, 0, 2, 1: P-bar = (1 + 1 + 1/3 + 1/3) / 4 = 2/3, P_e = 1/2
    assert fleiss_kappa_of([3, 0, 2, 1], 3) == pytest.approx((2 / 3 - 1 / 2) / (1 - 1 / 2))
    assert fleiss_kappa_of([3, 3, 3], 3) is None  # no variation: chance agreement is already 1


def test_fleiss_rows_per_criterion_kind_from_grading_rounds() -> None:
    # every criterion of generation g gets the same three rounds: ones 3, 0, 2, 1 as in the table above
    patterns = [(1, 1, 1), (0, 0, 0), (1, 1, 0), (1, 0, 0)]
    records = [
        _generation(f"topic {g}", [(vote,) * 5 for vote in pattern]) for g, pattern in enumerate(patterns)
    ]
    records.append(_generation("half unscored", [(1,) * 5, (1,) * 5]))  # 2 of 3 rounds: no subject
    rows = rows_from_records(records)
    assert all(row["statistic"] == "fleiss" for row in rows)
    for kind, subjects in (("skill", 8), ("topic", 4), ("sense", 4), ("length", 4), ("all", 20)):
        row = _row(rows, "fleiss", kind)
        assert row["kappa"] == pytest.approx(1 / 3)
        assert (row["n"], row["percent_agreement"], row["rounds"], row["graders"]) == (
            subjects,
            50.0,
            3,
            ["gpt-4"],
        )
        assert row.keys() >= JSON_FIELDS and (row["run"], row["step"], row["setting"], row["k"]) == (
            "m",
            100,
            "heldout",
            2,
        )
    assert _row(rows, "fleiss", "all", "pooled")["kappa"] == pytest.approx(1 / 3)


def test_cohen_kappa_between_two_graders_of_the_same_generations() -> None:
    # 10 generations x 5 points = 50 items: 20 both 0, 5 first 0 / second 1, 10 first 1 / second 0, 15 both 1
    # p_o = 35/50 = 0.7, p_e = (25 * 30 + 25 * 20) / 50^2 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4
    pairs = [(0, 0)] * 20 + [(0, 1)] * 5 + [(1, 0)] * 10 + [(1, 1)] * 15
    records = []
    for g in range(10):
        chunk = pairs[5 * g : 5 * g + 5]
        first, second = tuple(a for a, _ in chunk), tuple(b for _, b in chunk)
        records += [
            _generation(f"topic {g}", [first], "gpt-4"),
            _generation(f"topic {g}", [second], "claude"),
        ]
    rows = rows_from_records(records)
    row = _row(rows, "cohen", "all")
    assert row["kappa"] == pytest.approx(0.4) and row["percent_agreement"] == pytest.approx(70.0)
    assert (row["graders"], row["n"], row["confusion"]) == (["claude", "gpt-4"], 50, [[20, 10], [5, 15]])
    assert row["metrics"]["gpt-4"]["n"] == row["metrics"]["claude"]["n"] == 10
    assert cohen_kappa_of([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert cohen_kappa_of([[0, 0], [0, 7]]) is None
    assert _row(rows, "cohen", "all", "pooled")["kappa"] == pytest.approx(0.4)


@requires_reference
def test_reference_gradings_agree_across_their_rounds() -> None:
    # the bundled reference folder's three gpt-4 grading rounds carry the same replies: kappa 1, all unanimous
    rows = agreement_rows([REFERENCE_DIR / "test"])
    skill = next(r for r in rows if (r["run"], r["criterion"], r["scope"]) == ("gpt-4", "skill", "cell"))
    assert (skill["kappa"], skill["percent_agreement"], skill["n"], skill["rounds"]) == (1.0, 100.0, 30, 3)
    assert _row([r for r in rows if r["run"] == "gpt-4"], "fleiss", "topic")["kappa"] is None  # all earned
    assert {r["run"] for r in rows if r["scope"] == "cell"} == {
        "gpt-4"
    }  # the others have no fully scored generation


@pytest.mark.slow
@requires_reference
def test_reference_folder_with_a_second_grader_gives_cohen_rows(tmp_path: Path) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR / "test" / "k3_s10_vdefault_r2", copy / "k3_s10_vdefault_r2")
    graded = copy / "k3_s10_vdefault_r2" / "gpt-4" / "graded"
    (graded / "by_gpt-4_on_text_1_3_gpt").rename(graded / "by_claude_on_text_1_3_gpt")
    finished = subprocess.run(
        [sys.executable, "cli.py", "agreement", str(copy), "--json"], cwd=REPO, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    rows = json.loads(finished.stdout)
    cohen = _row([r for r in rows if r["statistic"] == "cohen"], "cohen", "skill")
    assert (cohen["graders"], cohen["kappa"], cohen["percent_agreement"]) == (["claude", "gpt-4"], 1.0, 100.0)
    assert cohen.keys() >= JSON_FIELDS
    assert cohen["metrics"]["claude"]["full_marks"] == cohen["metrics"]["gpt-4"]["full_marks"]
    fleiss = [r for r in rows if r["statistic"] == "fleiss" and r["scope"] == "cell"]
    assert {r["rounds"] for r in fleiss} == {2} and {tuple(r["graders"]) for r in fleiss} == {("gpt-4",)}


def test_evaluation_records_and_a_regraded_file_beside_them(tmp_path: Path) -> None:
    from .eval_record_files import eval_record, write_records

    step = tmp_path / "skillmix_eval" / "step000100"
    first, second = [], []
    for index in range(6):
        topic, points = f"topic {index}", (1, index % 2, 1, 1, 1)
        first.append(eval_record(SKILLS, topic, "A short answer.", [points] * 3, combination_index=index))
        flipped = (1, 1, 1, 1, 1) if index < 2 else points  # claude gives the second skill twice more
        second.append(
            eval_record(
                SKILLS, topic, "A short answer.", [flipped], "anthropic:claude", combination_index=index
            )
        )
    records = write_records(step / "records.jsonl", first)
    regraded = write_records(step / "records.graded-by-anthropic-claude.jsonl", second)
    rows = agreement_rows([records, regraded])
    cohen = _row(rows, "cohen", "skill")
    # first skill both 1; second: claude (rows) 1,1,0,1,0,1, gpt-4 (columns) 0,1,0,1,0,1: 11 of 12 agree
    assert cohen["graders"] == ["anthropic:claude", "openai:gpt-4-0613"]
    assert cohen["confusion"] == [[2, 0], [1, 9]] and cohen["percent_agreement"] == pytest.approx(
        100 * 11 / 12
    )
    assert cohen["metrics"]["openai:gpt-4-0613"]["full_marks"] == pytest.approx(0.5)
    assert cohen["metrics"]["anthropic:claude"]["full_marks"] == pytest.approx(4 / 6)
    assert _row(rows, "fleiss", "all")["graders"] == [
        "openai:gpt-4-0613"
    ]  # claude graded once: no Fleiss row
