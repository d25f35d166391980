"""The rubric parser on every real GPT-4 grading and on hand-made hard cases."""

from __future__ import annotations

from collections import Counter

import pytest

from skillmix.criteria_labels import AMBIGUOUS, CriteriaLabels
from skillmix.prompts import rubric_criteria_for_names
from skillmix.reference_layout import split_skills_column
from skillmix.rubric import parse_rubric, read_marks

from .conftest import grading_record_files, read_csv_rows, requires_reference

CRITERIA = rubric_criteria_for_names(
    ["spatial reasoning", "complex question (loaded question with implicit assumption )", "metaphor"],
    "Sewing",
)


def _table(*rows: str, total: str | None = "5") -> str:
    lines = ["Here's the grading table:", "", "| Criteria | Points Earned |", "|---|---|", *rows]
    if total is not None:
        lines.append(f"| Total Points Earned | {total} |")
    return "\n".join([*lines, "", "Explanation: fine."])


FULL_ROWS = (
    "| Correctly illustrates spatial reasoning | 1 |",
    "| Correctly illustrates complex question (loaded question with implicit assumption ) | 1 |",
    "| Correctly illustrates metaphor | 0 |",
    "| Pertains to Sewing | 1 |",
    "| Text makes sense | 1 |",
    "| At most two sentences | 1 |",
)


@requires_reference
def test_every_real_gpt4_grading_against_the_reference_points() -> None:
    """69 real gradings (23 distinct replies, each copied into the 3 grading-round folders).

    The 30 gradings of the gpt-4 student are rubric tables: our points equal `points_0` exactly. The 39 of
    the llama2/mistral students come from prompts without the rubric (or with "Point earned" items the
    replies cut short): the reference found fewer than k+3 points (30, padded with zeros later) or none (9,
    empty `points_0`); we return unscored, and every value the reference did find, we find too.
    """
    outcomes: Counter[str] = Counter()
    for path in grading_record_files():
        for row in read_csv_rows(path):
            criteria = rubric_criteria_for_names(split_skills_column(row["skills"]), row["topic"])
            result = parse_rubric(row["assistant_0"], criteria)
            reference = [float(v) for v in row["points_0"].split(",")] if row["points_0"] else []
            if len(reference) == len(criteria):
                assert result.points == tuple(int(v) for v in reference), (path, row["topic"])
                assert result.reported_total == float(row["score_0"])
                outcomes["scored, equal to points_0"] += 1
                continue
            assert result.points is None and result.unscored, (path, row["topic"])
            assert f"no points for 'Pertains to {row['topic']}'" in result.unscored
            partial = read_marks(row["assistant_0"], criteria).partial()
            assert partial[: len(reference)] == reference, (path, row["topic"])
            outcomes["unscored, points_0 short" if reference else "unscored, points_0 empty"] += 1
    assert outcomes == {
        "scored, equal to points_0": 30,
        "unscored, points_0 short": 30,
        "unscored, points_0 empty": 9,
    }


def test_clean_table() -> None:
    result = parse_rubric(_table(*FULL_ROWS), CRITERIA)
    assert result == type(result)(points=(1, 1, 0, 1, 1, 1), unscored=None, reported_total=5.0)


def test_rows_in_another_order_shortened_bold_and_fractions() -> None:
    rows = (
        "| **At most 2 sentences** | **1** |",
        "| Correctly illustrates complex question | 1/1 |",
        "| Text makes sense | one |",
        "| 1. Spatial Reasoning | 0 |",
        "| Pertains to the topic (Sewing) | 1 point |",
        "| Correctly illustrates metaphor | 0/1 |",
    )
    assert parse_rubric(_table(*rows, total="3/6"), CRITERIA).points == (0, 1, 0, 1, 1, 1)
    assert parse_rubric(_table(*rows, total="3/6"), CRITERIA).reported_total == 3.0


def test_wrong_total_is_only_a_cross_check() -> None:
    result = parse_rubric(_table(*FULL_ROWS, total="6"), CRITERIA)
    assert result.points == (1, 1, 0, 1, 1, 1)
    assert result.reported_total == 6.0


def test_missing_row_is_unscored_not_zero() -> None:
    result = parse_rubric(_table(*FULL_ROWS[:4], FULL_ROWS[5]), CRITERIA)
    assert result.points is None
    assert result.unscored == "no points for 'Text makes sense'"


def test_extra_rows_are_ignored() -> None:
    rows = (*FULL_ROWS[:3], "| Creativity | 1 |", *FULL_ROWS[3:])
    assert parse_rubric(_table(*rows), CRITERIA).points == (1, 1, 0, 1, 1, 1)


def test_unnamed_rows_are_filled_by_position_only_in_a_complete_table_in_order() -> None:
    renamed = (FULL_ROWS[0], "| Skill 2 | 1 |", *FULL_ROWS[2:])
    assert parse_rubric(_table(*renamed), CRITERIA).points == (1, 1, 0, 1, 1, 1)
    out_of_order = (FULL_ROWS[2], "| Skill 2 | 1 |", FULL_ROWS[0], *FULL_ROWS[3:])
    assert parse_rubric(_table(*out_of_order), CRITERIA).unscored == (
        "no points for 'Correctly illustrates complex question (loaded question with implicit assumption )'"
    )


def test_no_table_and_prose_only_are_unscored() -> None:
    prose = "The student did well on spatial reasoning and the metaphor, and the text is about sewing."
    result = parse_rubric(prose, CRITERIA)
    assert result.points is None
    assert result.unscored is not None and result.unscored.startswith("no points for 'Correctly illustrates")
    assert parse_rubric("", CRITERIA).points is None


def test_two_tables_that_agree_or_conflict() -> None:
    agreeing = _table(*FULL_ROWS) + "\n\nTo repeat:\n\n" + _table(*FULL_ROWS)
    assert parse_rubric(agreeing, CRITERIA).points == (1, 1, 0, 1, 1, 1)
    changed = (*FULL_ROWS[:2], "| Correctly illustrates metaphor | 1 |", *FULL_ROWS[3:])
    conflicting = _table(*FULL_ROWS) + "\n\nOn second thought:\n\n" + _table(*changed)
    assert parse_rubric(conflicting, CRITERIA).unscored == (
        "conflicting points for 'Correctly illustrates metaphor': 0, 1"
    )


def test_non_binary_and_unreadable_points_are_unscored() -> None:
    half = (*FULL_ROWS[:2], "| Correctly illustrates metaphor | 0.5 |", *FULL_ROWS[3:])
    assert parse_rubric(_table(*half), CRITERIA).unscored == (
        "points for 'Correctly illustrates metaphor' are 0.5, not 0 or 1"
    )
    vague = (*FULL_ROWS[:5], "| At most two sentences | yes |")
    assert parse_rubric(_table(*vague), CRITERIA).unscored == (
        "unreadable points for 'At most two sentences': 'yes'"
    )


def test_table_with_an_extra_comment_column() -> None:
    reply = "\n".join(
        ["| Criteria | Comment | Points Earned |", "|---|---|---|"]
        + [row.replace(" | ", " | looks right, 2 of them | ", 1) for row in FULL_ROWS]
    )
    assert parse_rubric(reply, CRITERIA).points == (1, 1, 0, 1, 1, 1)


def test_point_earned_items_with_words_and_a_grade() -> None:
    reply = (
        "Here's the grading:\n\n"
        "1. **Spatial Reasoning**: the machine sits at the corner. Point earned: 1\n\n"
        "2. Correctly illustrates complex question (loaded question with implicit assumption):\n"
        "The question presupposes a fault.\nPoint earned: one\n\n"
        "- Metaphor: none here. 'Point earned: 0'.\n\n"
        "**Pertains to Sewing**: yes. Point earned: 1/1\n\n"
        "Text makes sense: it does.\nPoint earned: 1\n\n"
        "At most two sentences: one sentence only. Point earned: 1\n\n"
        "Grade: 5"
    )
    result = parse_rubric(reply, CRITERIA)
    assert result.points == (1, 1, 0, 1, 1, 1)
    assert result.reported_total == 5.0


def test_point_earned_for_label_form() -> None:
    reply = "\n".join(
        f"Point earned for {label}: {value}"
        for label, value in zip(
            ["spatial reasoning", "complex question", "metaphor", "topic", "sense", "length"],
            "110111",
            strict=True,
        )
    )
    assert parse_rubric(reply, CRITERIA).points == (1, 1, 0, 1, 1, 1)


def test_truncated_last_item_is_unscored() -> None:
    reply = "**Spatial reasoning**: Point earned: 1\n\n**Metaphor**: nothing. Point earned:"
    assert "unreadable points for 'Correctly illustrates metaphor': ''" in (
        parse_rubric(reply, CRITERIA).unscored or ""
    )


def test_criteria_labels_tiers() -> None:
    labels = CriteriaLabels(
        rubric_criteria_for_names(
            ["metaphor", "extended metaphor", "common sense", "run-on sentence"], "Knots"
        )
    )
    assert labels.match("Correctly illustrates extended metaphor") == 1
    assert labels.match("**Metaphor**") == 0
    assert labels.match("Extended metaphor (the rope)") == 1
    assert labels.match("Correctly Illustrates Common-Sense") == 2
    assert labels.match("Makes sense") == 5
    assert labels.match("Run on sentence") == 3
    assert labels.match("At most three sentences") == 6
    assert labels.match("Relevance to topic") == 4
    assert labels.match("Knots") == 4
    assert labels.match("Sentence structure makes sense") == AMBIGUOUS
    assert labels.match("Creativity") is None
    with pytest.raises(ValueError, match="k\\+3 >= 4 criteria"):
        CriteriaLabels(["a", "b", "c"])
