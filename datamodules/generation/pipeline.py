"""The generation loop: for each planned combination, teacher conversation -> grade -> keep or reject.

Combinations run concurrently (each one's calls are sequential: turn 1, turn 2, grading); the shared
`ModelClient`s bound the calls in flight. Each outcome is handed to `sink` as soon as it exists. The run
stops starting new combinations when the budget refuses a call or `max_requests` calls have been made;
combinations already started finish (or, if the budget refused them, are left for the next run).

Which graded texts become training data: by default, exactly those the evaluation would give full marks.
The decision is the protocol's own scoring (`skillmix.metrics`): majority vote per rubric point over the
grading rounds, the length point replaced by the programmatic sentence count, and a skill point lost when
the text spells the skill's name out. Using the evaluation's definition for the filter means a kept text
never teaches the student something the evaluation penalises (naming the skill, running over the sentence
limit) just because one grader reply overlooked it. Both checks can be switched off to trust the grader
alone, as a looser reading of the paper's "full marks from GPT-4". The paper keeps the texts the grader
gives full marks; with three grading rounds that is a majority of all rounds, so by default an unscored
round counts as not earning its points: `[full, unscored, unscored]` is rejected (`unscored_rounds`), not
kept on the strength of one reply.

Each finished combination becomes one JSONL record: a D(k) example (docs/data.md) plus how it was graded.
Kept and rejected texts share one layout, so a reject can be inspected (or re-judged) like an example; a
rejected record adds `reason` ("not_full_marks", "unscored", "duplicate", "empty_answer", "teacher_error",
"grader_error") and, where there is more to say, `failed` or `detail`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from datamodules.generation.outputs import Record
from datamodules.generation.plan import PlannedGeneration
from datamodules.generation.teacher import Conversation, TeacherError, TeacherSampling, converse
from graders.client import ModelClient
from graders.interface import ErrorKind, Usage
from graders.skillmix_grader import SkillMixGrader
from skillmix.answers import extract_answer
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import ScoredPoints, ScoringOptions, point_metrics, scored_points
from skillmix.prompts import rubric_criteria_for_names


@dataclass(frozen=True)
class KeepRule:
    """Args:
    programmatic_length: Also require at most max(1, k-1) sentences by our own count (the evaluation's
        rule, `ScoringOptions.programmatic_length`), whatever the grader said about length.
    name_penalty: Also require that no skill's name (cut at "(") appears in the text (the evaluation's
        rule, `ScoringOptions.name_penalty`).
    unscored_rounds: "not_earned": an unscored grading round votes 0 on every point, so full marks need a
        majority of all rounds; "ignored": only the scored rounds vote (one readable reply can decide).
    """

    programmatic_length: bool = True
    name_penalty: bool = True
    unscored_rounds: Literal["not_earned", "ignored"] = "not_earned"

    @property
    def scoring(self) -> ScoringOptions:
        """The evaluation's scoring with this rule's checks (its other options at their defaults)."""
        return ScoringOptions(programmatic_length=self.programmatic_length, name_penalty=self.name_penalty)


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str | None
    """None when kept; "not_full_marks", "unscored_rounds" (full marks from the scored rounds, but not from
    a majority of all rounds) or "unscored" (no round could be read)."""
    failed: tuple[str, ...] = ()
    """The rubric points (and programmatic checks) the text missed, in words."""
    detail: str | None = None


def judge(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> Verdict:
    """Keep `answer` when it earns full marks under `rule`; otherwise say which points it missed."""
    reasons = "; ".join(f"round {i}: {g.unscored}" for i, g in enumerate(gradings) if g.unscored)
    scored = [g for g in gradings if g.points is not None]
    if not scored:
        return Verdict(False, "unscored", detail=reasons or "no grading rounds")
    k = len(skill_names)
    voting = scored if rule.unscored_rounds == "ignored" else [_not_earned(g, k) for g in gradings]
    points = _points(rule, skill_names, topic, answer, voting)
    if points is None:  # every reply lacks the length row, and the rule does not count sentences itself
        return Verdict(False, "unscored", detail="no grading round has a length point")
    if _full_marks(points, k):
        return Verdict(True, None)
    if len(voting) > len(scored) and _full_marks(_points(rule, skill_names, topic, answer, scored), k):
        failed = f"full marks from {len(scored)} of {len(gradings)} grading rounds, not a majority of all"
        return Verdict(False, "unscored_rounds", failed=(failed,), detail=reasons)
    missed = tuple(_missed(points, skill_names, topic))
    return Verdict(False, "not_full_marks", failed=missed, detail=reasons or None)


def _points(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> ScoredPoints | None:
    """The points the evaluation would score `gradings` on (`skillmix.metrics.scored_points`)."""
    record = GradedGeneration(
        run="generate", setting="train", k=len(skill_names), skills=tuple(skill_names), topic=topic,
        generation_round=0, answer=answer, gradings=tuple(gradings),
    )  # fmt: skip
    return scored_points(record, rule.scoring)


def _full_marks(points: ScoredPoints | None, k: int) -> bool:
    return points is not None and point_metrics(points.points, k)[0] == 1.0


def _not_earned(grading: Grading, k: int) -> Grading:
    """An unscored round as a vote of 0 on every point."""
    return grading if grading.points is not None else Grading((0,) * (k + 3), None, grading.grader)


def _missed(points: ScoredPoints, skill_names: Sequence[str], topic: str) -> list[str]:
    """Why a scored text fell short, in words, from the points the scoring computed."""
    criteria = rubric_criteria_for_names(skill_names, topic)
    missed = []
    for index, criterion in enumerate(criteria):
        if index == len(criteria) - 1 and points.sentences is not None:
            if not points.points[index]:
                missed.append(f"{criterion} (counted {points.sentences})")
        elif not points.voted[index]:
            missed.append(f"{criterion} (grader)")
    named = [name for name, is_named in zip(skill_names, points.named, strict=True) if is_named]
    return missed + [f"names the skill {name!r}" for name in named]


def example_record(
    planned: PlannedGeneration,
    conversation: Conversation,
    answer: str,
    rounds: Sequence[Grading],
    verdict: Verdict | None,
    provenance: Mapping[str, Any],
) -> Record:
    """The record of a text the teacher wrote; `verdict` None means it was never judged (see `reason`)."""
    grader_usage = sum((r.usage for r in rounds), Usage())
    record: Record = {
        **_combination(planned),
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


def _combination(planned: PlannedGeneration) -> Record:
    """The fields that name a record's combination, first in every record."""
    return {"id": planned.id, "k": len(planned.skills), "skills": planned.skill_names, "topic": planned.topic}


def _grading_record(grading: Grading) -> Record:
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
    rounds: Sequence[Grading] = (),
) -> Record:
    """A combination that produced no gradable text, or whose grading failed."""
    if conversation is not None and answer is not None:
        record = example_record(planned, conversation, answer, rounds, None, provenance)
    else:
        record = {
            **_combination(planned),
            "teacher": provenance["teacher"],
            "source": provenance["source"],
        }
    return record | {"reason": reason, "detail": detail}


class StopReason(str, Enum):
    COMPLETED = "completed"
    BUDGET = "budget_reached"
    MAX_REQUESTS = "max_requests_reached"


class GenerationPipeline:
    """Args:
    teacher: Client of the teacher model.
    grader: The SKILL-MIX grader (its client may be the teacher's model or another).
    sampling: How the teacher samples.
    rule: Which graded texts are kept.
    provenance: `teacher` and `source` strings recorded with every example.
    """

    def __init__(
        self,
        teacher: ModelClient,
        grader: SkillMixGrader,
        sampling: TeacherSampling,
        rule: KeepRule,
        provenance: Mapping[str, Any],
    ) -> None:
        self.teacher = teacher
        self.grader = grader
        self.sampling = sampling
        self.rule = rule
        self.provenance = provenance

    @property
    def clients(self) -> list[ModelClient]:
        """Teacher and grader clients, once each (they are one client when the settings are equal)."""
        return [self.teacher] if self.grader.client is self.teacher else [self.teacher, self.grader.client]

    @property
    def calls_made(self) -> int:
        return sum(client.stats.calls_made for client in self.clients)

    def budget_exhausted(self) -> bool:
        return any(c.budget is not None and c.budget.exhausted for c in self.clients)

    async def process(self, planned: PlannedGeneration) -> Record | None:
        """The outcome of one combination; None when the budget stopped it before it had one."""
        try:
            conversation = await converse(self.teacher, planned.skills, planned.topic, self.sampling)
        except TeacherError as error:
            if error.kind == ErrorKind.BUDGET:
                return None
            reason = "empty_answer" if error.kind is None else "teacher_error"
            return rejected_record(planned, reason, str(error), self.provenance)
        answer = extract_answer(conversation.final_reply)
        if not answer:
            detail = "the final reply has no text between 'Answer:' and 'Explanation'"
            return rejected_record(planned, "empty_answer", detail, self.provenance, conversation, answer)
        rounds = await self.grader.grade(planned.grading_item(answer))
        failed = [r for r in rounds if r.error is not None]
        if failed:
            if self.budget_exhausted():
                return None
            detail = "; ".join(f"round {r.round}: {r.error}" for r in failed)
            return rejected_record(
                planned, "grader_error", detail, self.provenance, conversation, answer, rounds
            )
        verdict = judge(self.rule, planned.skill_names, planned.topic, answer, rounds)
        return example_record(planned, conversation, answer, rounds, verdict, self.provenance)

    async def run(
        self,
        todo: Sequence[PlannedGeneration],
        sink: Callable[[Record], None],
        *,
        concurrency: int,
        max_requests: int | None = None,
    ) -> StopReason:
        """Process `todo` with `concurrency` combinations in flight, handing each outcome to `sink`."""
        pending: Iterable[PlannedGeneration] = iter(todo)
        stop: list[StopReason] = []

        async def worker() -> None:
            for planned in pending:  # one iterator shared by all workers: each combination runs once
                if stop:
                    return
                if max_requests is not None and self.calls_made >= max_requests:
                    stop.append(StopReason.MAX_REQUESTS)
                    return
                record = await self.process(planned)
                if record is None:
                    stop.append(StopReason.BUDGET)
                    return
                sink(record)

        workers = [asyncio.ensure_future(worker()) for _ in range(max(1, concurrency))]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return stop[0] if stop else StopReason.COMPLETED
