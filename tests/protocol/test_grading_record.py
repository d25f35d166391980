"""One grading type from grader to record: `Grading.to_record` writes the pinned layout, and the evaluation
reader reads it back into the same grading (it parses the raw reply again, as the grader did)."""

from __future__ import annotations

import json

from skillmix.evaluation.reader import graded_generation
from skillmix.graded import Grading, Usage
from skillmix.prompts import rubric_criteria_for_names
from skillmix.rubric import parse_rubric

from .eval_record_files import eval_record, rubric_table

SKILLS, TOPIC = ("metaphor", "red herring"), "Sailing"


def test_a_reasked_grading_is_recorded_in_the_pinned_layout() -> None:
    reply = rubric_table(SKILLS, TOPIC, (1, 0, 1, 1, 0))
    grading = Grading(
        (1, 0, 1, 1, 0), None, "openai:gpt-4", reply, True, reasked=True, round=2,
        usage=Usage(120, 80), reported_total=3.0, first_raw="sorry", cached=True,
    )  # fmt: skip
    expected = (
        '{"round": 2, "grader": "openai:gpt-4", "raw": ' + json.dumps(reply) + ', "usage": {"input_tokens": '
        '120, "output_tokens": 80}, "reported_total": 3.0, "reasked": true, "cached": true, "points": '
        '[1, 0, 1, 1, 0], "length_missing": true, "first_raw": "sorry"}'
    )
    assert json.dumps(grading.to_record()) == expected


def test_a_failed_request_is_recorded_as_unscored_with_its_error() -> None:
    failed = Grading(None, "request failed: HTTP 500", "openai:gpt-4", round=1, error="HTTP 500")
    assert json.dumps(failed.to_record()) == (
        '{"round": 1, "grader": "openai:gpt-4", "raw": null, "usage": {"input_tokens": 0, "output_tokens": '
        '0}, "reported_total": null, "reasked": false, "cached": false, "unscored": "request failed: HTTP '
        '500", "error": "HTTP 500"}'
    )


def test_the_reader_gives_back_the_grading_the_grader_recorded() -> None:
    scored = Grading(
        (1, 1, 1, 1, 1), None, "g", rubric_table(SKILLS, TOPIC, (1,) * 5), round=0, usage=Usage(9, 9)
    )
    reason = parse_rubric("sorry", rubric_criteria_for_names(SKILLS, TOPIC), length_optional=True).unscored
    unreadable = Grading(None, reason, "g", "sorry", reasked=True, round=1)
    record = eval_record(SKILLS, TOPIC, "The sea lied.", []) | {
        "gradings": [scored.to_record(), unreadable.to_record()]
    }
    read = graded_generation(json.loads(json.dumps(record))).gradings
    kept = ("points", "unscored", "grader", "raw", "length_missing", "reasked")
    assert [[getattr(g, name) for name in kept] for g in read] == [
        [getattr(g, name) for name in kept] for g in (scored, unreadable)
    ]
