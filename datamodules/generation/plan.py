"""What a generation run asks for, and what is left of it: the plan, the cache probe and the cost estimate.

The plan is a pure function of the catalog, the split, k, the pool, the seed and n. Because
`sample_combinations` draws one combination after another from one seeded generator, the plan for n is a
prefix of the plan for any larger n: a finished run can be extended by re-running it with a larger `--n`.

The cache probe says how far the response cache already carries each planned combination: the next request
it still needs. A combination's requests depend on each other (turn 2 contains answer 1, the grading prompt
contains the improved answer), so only the first missing one can be known. The dry run counts these; batch
mode submits them, one stage per batch.

The estimate says what the rest of a run will cost, before it runs: calls, tokens and list-price dollars.
Prompts are rendered exactly; replies do not exist yet, so their lengths come from measured means (the
length table in docs/generation.md: real two-turn GPT-4 generations and grading replies). Tokens are
counted as characters / 4 plus a few per message, which slightly overestimates GPT-4-family tokenizers
on English prose (about 4.5 characters per token). Re-asks of unreadable gradings (rare) are not
included. Cached requests cost nothing and are not counted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from datamodules.generation.outputs import list_price_costs
from datamodules.generation.teacher import TeacherSampling, turn1_request, turn2_request
from graders.client import GenerateRequest, ModelClient
from graders.interface import Message, Usage
from graders.skillmix_grader import GradingItem, SkillMixGrader, generation_draw
from skillmix.answers import extract_answer
from skillmix.catalog import Catalog, Skill
from skillmix.combinations import sample_combinations
from skillmix.errors import InputError
from skillmix.graded import combination_id
from skillmix.prompts import render_generation_turn2
from skillmix.splits import Splits

SkillPool = Literal["paper", "train", "all"]
"""Where the k skills come from. "paper": all skills for k=1, training skills for k>=2 (the paper's D(1),
D(2), D(3)); "train": training skills only; "all": every skill. Topics are always the training topics, so
held-out topics never reach the training data."""


@dataclass(frozen=True)
class PlannedGeneration:
    """One combination to generate for; `index` is its position in the plan (the order of output files)."""

    id: str
    index: int
    skills: tuple[Skill, ...]
    topic: str

    @property
    def skill_names(self) -> list[str]:
        return [skill.name for skill in self.skills]

    def grading_item(self, answer: str) -> GradingItem:
        """What the grader grades for this combination, named by its id (stable cache keys)."""
        return GradingItem(self.skills, self.topic, answer, generation_draw({"id": self.id}))


def pool_skills(splits: Splits, k: int, pool: SkillPool) -> tuple[str, ...]:
    if pool == "paper":
        return splits.skills("all") if k == 1 else splits.skills("train")
    if pool in ("train", "all"):
        return splits.skills(pool)
    raise InputError(f"unknown skill pool {pool!r}; choose paper, train or all")


def generation_id(k: int, skills: list[str] | tuple[str, ...], topic: str) -> str:
    """Stable across processes and machines; the skills' order does not matter."""
    return f"d{k}-{combination_id(list(skills), topic):016x}"


def plan_generations(
    catalog: Catalog, splits: Splits, *, k: int, n: int, seed: int, pool: SkillPool
) -> list[PlannedGeneration]:
    """`n` distinct (k skills, training topic) combinations, drawn with `seed`."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    combinations = sample_combinations(pool_skills(splits, k, pool), splits.train_topics, k, n, seed)
    return [
        PlannedGeneration(
            id=generation_id(k, combination.skills, combination.topic),
            index=index,
            skills=catalog.skills_named(combination.skills),
            topic=combination.topic,
        )
        for index, combination in enumerate(combinations)
    ]


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
    """The first request of `planned` that the response cache cannot answer yet."""
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
    grading = grader.request(planned.grading_item(answer))
    missing = tuple(i for i in grading.sample_indices if grader.client.cached(grading, i) is None)
    if missing:
        return NextStep("grading", grading, missing)
    return NextStep("cached", None)


CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
ANSWER1_TOKENS = {1: 130, 2: 204, 3: 266, 4: 332}
"""Mean tokens of the teacher's first answer ("Answer: ... Explanation: ..."), by k."""
ANSWER2_TOKENS = {1: 90, 2: 128, 3: 209, 4: 260}
"""Mean tokens of the improved answer, by k."""
GRADING_TOKENS_PER_CRITERION = 45
"""Real GPT-4 rubric replies average ~1,080 characters (~270 tokens) for k=3's six criteria."""


def expected_tokens(table: dict[int, int], k: int) -> int:
    """The table's value, extended linearly past its last k."""
    last = max(table)
    if k <= last:
        return table[k]
    return table[last] + (k - last) * (table[last] - table[last - 1])


def prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(math.ceil(len(m["content"]) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages)


@dataclass
class Estimate:
    """Work left for the planned combinations that have no outcome yet."""

    combinations: int = 0
    stages: Counter[str] = field(default_factory=Counter)
    """Combinations by the first request they still need (turn1, turn2, grading, cached)."""
    teacher_calls: int = 0
    grader_calls: int = 0
    teacher_usage: Usage = field(default_factory=Usage)
    grader_usage: Usage = field(default_factory=Usage)

    def cost(
        self, teacher: ModelClient, grader: ModelClient, *, batch: bool = False
    ) -> dict[str, float | None]:
        """List-price dollars per side and in total (None where an API model has no price)."""
        return list_price_costs(teacher, grader, self.teacher_usage, self.grader_usage, batch=batch)


def estimate(
    todo: Sequence[PlannedGeneration], teacher: ModelClient, grader: SkillMixGrader, sampling: TeacherSampling
) -> Estimate:
    result = Estimate(combinations=len(todo))
    for planned in todo:
        step = next_step(planned, teacher, grader, sampling)
        result.stages[step.stage] += 1
        _add_step(result, planned, step, teacher, grader, sampling)
    return result


def estimate_gradings(answers: Sequence[tuple[Sequence[Skill], str]], grader: SkillMixGrader) -> Estimate:
    """Grader calls and tokens for answers yet to be written, each (skills, topic): an answer of the mean
    length of an improved answer for its k, all of `grader`'s rounds, nothing cached."""
    result = Estimate(combinations=len(answers))
    for skills, topic in answers:
        request = grader.request(GradingItem(skills, topic, ""))
        k = len(skills)
        _add_grading(result, grader, request, request.sample_indices, expected_tokens(ANSWER2_TOKENS, k), k)
    return result


def _add_step(
    result: Estimate,
    planned: PlannedGeneration,
    step: NextStep,
    teacher: ModelClient,
    grader: SkillMixGrader,
    sampling: TeacherSampling,
) -> None:
    k = len(planned.skills)
    answer1, answer2 = expected_tokens(ANSWER1_TOKENS, k), expected_tokens(ANSWER2_TOKENS, k)
    turn2_prompt = math.ceil(len(render_generation_turn2(k, sampling.template)) / CHARS_PER_TOKEN)
    if step.stage == "turn1":
        first = prompt_tokens(turn1_request(planned.skills, planned.topic, sampling).messages)
        result.teacher_calls += 2
        second = first + answer1 + turn2_prompt + 2 * TOKENS_PER_MESSAGE
        result.teacher_usage += Usage(first + second, answer1 + answer2)
    elif step.stage == "turn2" and step.request is not None:
        result.teacher_calls += 1
        result.teacher_usage += Usage(prompt_tokens(step.request.messages), answer2)
    if step.stage in ("turn1", "turn2"):
        empty_answer = grader.request(GradingItem(planned.skills, planned.topic, ""))
        _add_grading(result, grader, empty_answer, empty_answer.sample_indices, answer2, k)
    elif step.stage == "grading" and step.request is not None:
        _add_grading(result, grader, step.request, step.missing_samples, 0, k)


def _add_grading(
    result: Estimate,
    grader: SkillMixGrader,
    request: GenerateRequest,
    samples: Sequence[int],
    answer_tokens: int,
    k: int,
) -> None:
    calls = len(grader.client.plan(request, samples))
    result.grader_calls += calls
    reply = GRADING_TOKENS_PER_CRITERION * (k + 3)
    result.grader_usage += Usage(
        calls * (prompt_tokens(request.messages) + answer_tokens), len(samples) * reply
    )
