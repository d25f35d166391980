"""How far the response cache already carries each combination: the next request it still needs.

A combination's requests depend on each other (turn 2 contains answer 1, the grading prompt contains the
improved answer), so only the first missing one can be known. The dry run counts these; batch mode
submits them, one stage per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from datamodules.generation.plan import PlannedGeneration
from datamodules.generation.teacher import TeacherSampling, turn1_request, turn2_request
from graders.client import GenerateRequest, ModelClient
from graders.skillmix_grader import GradingItem, SkillMixGrader, generation_draw
from skillmix.answers import extract_answer

Stage = Literal["turn1", "turn2", "grading", "cached"]


@dataclass(frozen=True)
class NextStep:
    stage: Stage
    request: GenerateRequest | None
    """The request to make next (None once everything is cached)."""
    missing_samples: tuple[int, ...] = (0,)


def next_step(
    planned: PlannedGeneration, teacher: ModelClient, grader: SkillMixGrader, sampling: TeacherSampling
) -> NextStep:
    first = turn1_request(planned.skills, planned.topic, sampling)
    answer1 = teacher.cached(first, 0)
    if answer1 is None or not answer1.text.strip():
        return NextStep("turn1" if answer1 is None else "cached", first if answer1 is None else None)
    second = turn2_request(planned.skills, planned.topic, answer1.text, sampling)
    answer2 = teacher.cached(second, 0)
    if answer2 is None:
        return NextStep("turn2", second)
    answer = extract_answer(answer2.text)
    if not answer:
        return NextStep("cached", None)
    grading = grader.request(
        GradingItem(planned.skills, planned.topic, answer, generation_draw({"id": planned.id}))
    )
    missing = tuple(i for i in grading.sample_indices if grader.client.cached(grading, i) is None)
    if missing:
        return NextStep("grading", grading, missing)
    return NextStep("cached", None)
