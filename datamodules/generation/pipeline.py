"""The generation loop: for each planned combination, teacher conversation -> grade -> keep or reject.

Combinations run concurrently (each one's calls are sequential: turn 1, turn 2, grading); the shared
`ModelClient`s bound the calls in flight. Each outcome is handed to `sink` as soon as it exists. The run
stops starting new combinations when the budget refuses a call or `max_requests` calls have been made;
combinations already started finish (or, if the budget refused them, are left for the next run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from datamodules.generation.examples import example_record, rejected_record
from datamodules.generation.keep_rule import KeepRule, judge
from datamodules.generation.outputs import Record
from datamodules.generation.plan import PlannedGeneration
from datamodules.generation.teacher import TeacherError, TeacherSampling, converse
from graders.client import ModelClient
from graders.interface import ErrorKind
from graders.skillmix_grader import GradingItem, SkillMixGrader, generation_draw
from skillmix.answers import extract_answer
from skillmix.graded import Grading


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
        rounds = await self.grader.grade(
            GradingItem(planned.skills, planned.topic, answer, generation_draw({"id": planned.id}))
        )
        failed = [r for r in rounds if r.error is not None]
        if failed:
            if self.budget_exhausted():
                return None
            detail = "; ".join(f"round {r.round}: {r.error}" for r in failed)
            return rejected_record(
                planned, "grader_error", detail, self.provenance, conversation, answer, rounds
            )
        gradings = [
            Grading(r.points, r.unscored, r.grader, r.raw or "", r.length_missing, r.reasked) for r in rounds
        ]
        verdict = judge(self.rule, planned.skill_names, planned.topic, answer, gradings)
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
