"""Sentence counting and the explicit-name penalty, against the reference's own columns and by hand."""

from __future__ import annotations

import pytest

from skillmix.text_checks import count_sentences, explicit_name, named_skills, within_sentence_limit

from .conftest import generation_record_files, grading_record_files, read_csv_rows, requires_reference


@requires_reference
def test_sentence_count_and_length_point_equal_the_reference_on_every_grading() -> None:
    answers = {}
    for path in generation_record_files():
        for row in read_csv_rows(path):
            answers[(path.parents[1].name, path.parent.name, row["topic"])] = row["text_1"]
    checked = 0
    for path in grading_record_files():
        student = path.parents[2]
        for row in read_csv_rows(path):
            answer = answers[(student.parent.name, student.name, row["topic"])]
            assert count_sentences(answer) == int(row["num_sentences_manual_in_student_answer_0"]), path
            assert float(within_sentence_limit(answer, int(row["k"]))) == float(row["true_sentence_lim_pt_0"])
            checked += 1
    assert checked == 69


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("One sentence without a full stop", 1),
        ("First. Second! Third? Fourth.", 4),
        ('He said "Stop." Then he left.', 2),
        ('"Stop!" "Go," she said.', 2),
        ("Dr. Smith met Mr. Jones and Prof. Lee.", 1),
        ("Values like 3.5 and e.g. lower-case starts. do not split.", 1),
        ("Wait...  Two spaces do not split. A single one does.", 2),
        ("Ends here.\nNew line, capital after a newline.", 1),
    ],
)
def test_sentence_rule(text: str, count: int) -> None:
    assert count_sentences(text) == count


def test_length_point_uses_max_one_k_minus_one() -> None:
    assert within_sentence_limit("One. Two.", 3)
    assert not within_sentence_limit("One. Two. Three.", 3)
    assert within_sentence_limit("One.", 1) and within_sentence_limit("One.", 2)
    assert not within_sentence_limit("One. Two.", 2)


def test_name_penalty_cuts_at_the_parenthesis_and_ignores_case() -> None:
    assert explicit_name("complex question (loaded question with implicit assumption )") == "complex question"
    names = ["red herring", "folk physics (common knowledge physics)", "metaphor", "spatial reasoning"]
    answer = "A Red Herring, folk physics and METAPHORICAL talk, but no spatial-reasoning."
    assert named_skills(answer, names) == [True, True, True, False]
    assert named_skills("common knowledge physics", ["folk physics (common knowledge physics)"]) == [False]
