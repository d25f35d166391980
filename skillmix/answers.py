"""The part of a model's reply that gets graded."""

from __future__ import annotations

ANSWER_MARKER = "Answer:"
EXPLANATION_MARKER = "Explanation"


def extract_answer(reply: str) -> str:
    """The text between the last "Answer:" and the following "Explanation", stripped.

    This is the reference's rule (its `text_0`/`text_1` columns), kept exactly so that grades are comparable:
    a reply without "Answer:" is graded whole (up to any "Explanation"), which is how the reference treats
    students that ignore the format; the grader, not the extractor, decides what that is worth.
    """
    after_answer = reply.split(ANSWER_MARKER)[-1]
    return after_answer.split(EXPLANATION_MARKER)[0].strip()
