"""A grader reply without the length row, and re-asked gradings: how they are parsed, recorded and scored."""

from __future__ import annotations

import json

from skillmix.evaluation.reader import graded_generation
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import ScoringOptions, score_generation
from skillmix.rubric import parse_rubric

from .test_rubric import CRITERIA, FULL_ROWS, _table

SKILLS = ("spatial reasoning", "complex question (loaded question with implicit assumption )", "metaphor")
NO_LENGTH_ROW = _table(*FULL_ROWS[:5])


def test_a_reply_without_the_length_row_is_scored_only_when_the_length_is_optional() -> None:
    assert parse_rubric(NO_LENGTH_ROW, CRITERIA).unscored == "no points for 'At most two sentences'"
    result = parse_rubric(NO_LENGTH_ROW, CRITERIA, length_optional=True)
    assert (result.points, result.length_missing, result.unscored) == ((1, 1, 0, 1, 1, 0), True, None)
    full = parse_rubric(_table(*FULL_ROWS), CRITERIA, length_optional=True)
    assert (full.points, full.length_missing) == ((1, 1, 0, 1, 1, 1), False)


def test_only_a_missing_length_row_is_forgiven() -> None:
    unreadable = _table(*FULL_ROWS[:5], "| At most two sentences | yes |")
    assert parse_rubric(unreadable, CRITERIA, length_optional=True).unscored == (
        "unreadable points for 'At most two sentences': 'yes'"
    )
    no_sense = _table(*FULL_ROWS[:4])
    assert (
        parse_rubric(no_sense, CRITERIA, length_optional=True).unscored == "no points for 'Text makes sense'"
    )


def _generation(*gradings: Grading, answer: str = "One sentence only.") -> GradedGeneration:
    return GradedGeneration("m", "heldout", 3, SKILLS, "Sewing", 1, answer, gradings)


def test_the_length_placeholder_needs_the_programmatic_length_point() -> None:
    missing = Grading((1, 1, 1, 1, 1, 0), None, "gpt-4", length_missing=True)
    generation = _generation(missing, missing, missing)
    assert score_generation(generation).full_marks == 1.0  # one sentence: the count earns the point
    by_grader = score_generation(generation, ScoringOptions(programmatic_length=False))
    assert (by_grader.scored, by_grader.unscored_gradings) == (False, 3)


def test_reference_mode_scores_a_reasked_grading_as_its_unreadable_first_reply() -> None:
    full = Grading((1, 1, 1, 1, 1, 1), None, "gpt-4")
    reasked = Grading((1, 1, 1, 1, 1, 1), None, "gpt-4", reasked=True)
    generation = _generation(full, reasked, reasked)
    assert score_generation(generation).full_marks == 1.0
    compat = score_generation(generation, ScoringOptions(reference_compat=True))
    assert (compat.full_marks, compat.unscored_gradings) == (0.0, 2)  # two zero rounds outvote one


def test_records_keep_the_marks_when_read_back() -> None:
    record = {
        "run": "m", "setting": "heldout", "k": 3, "skills": list(SKILLS), "topic": "Sewing",
        "generation_round": 1, "answer": "One.", "step": 0, "seed": 0,
        "gradings": [
            {"grader": "g", "raw": NO_LENGTH_ROW, "points": [1, 1, 0, 1, 1, 0], "length_missing": True},
            {"grader": "g", "raw": _table(*FULL_ROWS), "points": [1, 1, 0, 1, 1, 1], "reasked": True},
        ],
    }  # fmt: skip
    missing, reasked = graded_generation(json.loads(json.dumps(record))).gradings
    assert missing.length_missing and not missing.reasked and missing.points == (1, 1, 0, 1, 1, 0)
    assert reasked.reasked and not reasked.length_missing
