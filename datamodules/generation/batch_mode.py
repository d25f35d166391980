"""Batch API mode: the same run at half price, one stage (turn 1, turn 2, grading) per provider batch.

Batches only fill the response cache (`graders.batch.jobs`); afterwards the normal pipeline replays every
answered request from the cache. With `wait`, one command walks all three stages, waiting for each batch
to end; anything a batch left unanswered (expired, errored) is then called live. Without `wait`, each
invocation collects the batches that have ended, submits the next stage, and the pipeline writes only the
combinations the cache already completes: re-run the same command until nothing is pending.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from datamodules.generation.plan import PlannedGeneration, next_step
from datamodules.generation.teacher import TeacherSampling
from graders.batch.jobs import collect_batches, submit_batches
from graders.client import GenerateRequest, ModelClient
from graders.skillmix_grader import SkillMixGrader

logger = logging.getLogger(__name__)

STAGES = 3
"""Turn 1, turn 2, grading: each needs the previous one's answers."""


@dataclass
class BatchProgress:
    submitted: int = 0
    """Requests submitted by this invocation."""
    cost_usd: float | None = 0.0
    """Estimated (half-price) cost of the results ingested by this invocation."""

    def add_cost(self, cost: float | None) -> None:
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost


async def advance_batches(
    todo: Sequence[PlannedGeneration],
    teacher: ModelClient,
    grader: SkillMixGrader,
    sampling: TeacherSampling,
    *,
    wait: bool,
    poll_seconds: float,
) -> BatchProgress:
    """Collect ended batches and submit the next stage, `STAGES` times when waiting, else once."""
    progress = BatchProgress()
    clients = [teacher] if grader.client is teacher else [teacher, grader.client]
    for _ in range(STAGES if wait else 1):
        for client in clients:
            report = await collect_batches(client, wait=wait, poll_seconds=poll_seconds)
            progress.add_cost(report.cost_usd)
        teacher_requests: list[GenerateRequest] = []
        grader_requests: list[GenerateRequest] = []
        for planned in todo:
            step = next_step(planned, teacher, grader, sampling)
            if step.request is not None:
                (grader_requests if step.stage == "grading" else teacher_requests).append(step.request)
        if not teacher_requests and not grader_requests:
            break
        for client, requests in ((teacher, teacher_requests), (grader.client, grader_requests)):
            if requests:
                batch_ids = await submit_batches(client, requests)
                progress.submitted += len(requests)
                logger.info("%s: %d requests in batches %s", client.identity, len(requests), batch_ids)
    if wait:
        for client in clients:
            progress.add_cost((await collect_batches(client, wait=True, poll_seconds=poll_seconds)).cost_usd)
    return progress


def cache_complete(
    todo: Sequence[PlannedGeneration], teacher: ModelClient, grader: SkillMixGrader, sampling: TeacherSampling
) -> list[PlannedGeneration]:
    """The combinations the pipeline can finish from the cache alone."""
    return [planned for planned in todo if next_step(planned, teacher, grader, sampling).stage == "cached"]
