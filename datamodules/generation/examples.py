"""One finished combination as a JSONL record: a D(k) example (docs/data.md) plus how it was graded.

Kept and rejected texts share one layout, so a reject can be inspected (or re-judged) like an example;
a rejected record adds `reason` ("not_full_marks", "unscored", "duplicate", "empty_answer",
"teacher_error", "grader_error") and, where there is more to say, `failed` or `detail`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datamodules.generation.keep_rule import Verdict
from datamodules.generation.outputs import Record
from datamodules.generation.plan import PlannedGeneration
from datamodules.generation.teacher import Conversation
from graders.interface import Usage
from graders.skillmix_grader import GradingRound


def example_record(
    planned: PlannedGeneration,
    conversation: Conversation,
    answer: str,
    rounds: Sequence[GradingRound],
    verdict: Verdict | None,
    provenance: Mapping[str, Any],
) -> Record:
    """The record of a text the teacher wrote; `verdict` None means it was never judged (see `reason`)."""
    grader_usage = sum((r.usage for r in rounds), Usage())
    record: Record = {
        "id": planned.id,
        "k": len(planned.skills),
        "skills": planned.skill_names,
        "topic": planned.topic,
        "messages": conversation.messages,
        "teacher": provenance["teacher"],
        "source": provenance["source"],
        "split": provenance.get("split"),
        "teacher_served_by": conversation.served_by,
        "answer": answer,
        "gradings": [_grading_record(r) for r in rounds],
        "usage": {"teacher": conversation.usage.to_dict(), "grader": grader_usage.to_dict()},
    }
    if verdict is not None and not verdict.keep:
        record["reason"] = verdict.reason
        if verdict.failed:
            record["failed"] = list(verdict.failed)
        if verdict.detail:
            record["detail"] = verdict.detail
    return record


def _grading_record(grading: GradingRound) -> Record:
    """A grading round as stored with the data. Whether it came from the cache describes one invocation,
    not the data, and would make a resumed run's file differ from an uninterrupted one."""
    return {key: value for key, value in grading.to_record().items() if key != "cached"}


def rejected_record(
    planned: PlannedGeneration,
    reason: str,
    detail: str,
    provenance: Mapping[str, Any],
    conversation: Conversation | None = None,
    answer: str | None = None,
    rounds: Sequence[GradingRound] = (),
) -> Record:
    """A combination that produced no gradable text, or whose grading failed."""
    if conversation is not None and answer is not None:
        record = example_record(planned, conversation, answer, rounds, None, provenance)
    else:
        record = {
            "id": planned.id,
            "k": len(planned.skills),
            "skills": planned.skill_names,
            "topic": planned.topic,
            "teacher": provenance["teacher"],
            "source": provenance["source"],
        }
    return record | {"reason": reason, "detail": detail}
