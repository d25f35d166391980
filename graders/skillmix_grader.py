"""The SKILL-MIX grader: rubric prompt -> R grading rounds -> per round, k+3 points or *unscored: reason*.

Prompt text and parsing come from the protocol layer (`skillmix.prompts`, `skillmix.rubric`); this module
only decides how to ask. The R rounds are samples 0..R-1 of one prompt (one call with OpenAI's `n`). A
reply the parser cannot read gets one re-ask — sample R + round, so a cached bad reply is never replayed
as its own re-ask — and if that is unreadable too, the round stays unscored and is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graders.client import GenerateRequest, ModelClient, Sample
from graders.interface import Message, SamplingParams, Usage
from skillmix.catalog import Skill
from skillmix.errors import InputError, UnknownNameError
from skillmix.prompts import GRADING_TEMPLATES, render_grading_prompt, rubric_criteria
from skillmix.rubric import RubricResult, parse_rubric

REFERENCE_SYSTEM_PROMPT = "You are a helpful assistant."
"""The system message of every grading call in the reference's records (its `system prompt` column)."""


@dataclass(frozen=True)
class GradingRound:
    """One grading round of one answer. Exactly one of `points` and `unscored` is set."""

    round: int
    grader: str
    points: tuple[int, ...] | None
    unscored: str | None
    raw: str | None
    """The reply that was parsed (the re-ask's reply, if there was one); None when the request failed."""
    usage: Usage
    reported_total: float | None = None
    reasked: bool = False
    first_raw: str | None = None
    """The unreadable reply that prompted the re-ask."""
    error: str | None = None
    """Set when the request itself failed (retries exhausted, budget reached): not a grade at all."""
    cached: bool = False

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "round": self.round,
            "grader": self.grader,
            "raw": self.raw,
            "usage": self.usage.to_dict(),
            "reported_total": self.reported_total,
            "reasked": self.reasked,
            "cached": self.cached,
        }
        record["points" if self.points is not None else "unscored"] = (
            list(self.points) if self.points is not None else self.unscored
        )
        if self.first_raw is not None:
            record["first_raw"] = self.first_raw
        if self.error is not None:
            record["error"] = self.error
        return record


@dataclass
class GraderStats:
    rounds: int = 0
    scored: int = 0
    unscored: int = 0
    reasked: int = 0
    failed: int = 0

    def summary(self) -> str:
        return (
            f"{self.rounds} grading rounds: {self.scored} scored, {self.unscored} unscored "
            f"({self.reasked} re-asked), {self.failed} failed requests"
        )


@dataclass(frozen=True)
class GradingItem:
    skills: Sequence[Skill]
    topic: str
    answer: str
    """The text under grade, as `skillmix.answers.extract_answer` gives it."""


@dataclass(frozen=True)
class GradingSettings:
    """How answers are graded, as configs name it (the grader model itself is `ClientSettings`).

    Args:
        rounds: Grading rounds per answer; points are a majority vote over them (the paper: 3). One round
            costs about a third as much and trusts a single reply.
        template: Grading prompt template ("gpt": the rubric table the paper's GPT-4 grader used).
        temperature: Grader sampling temperature (the reference's OpenAI default, 1.0).
        seed: Base seed where the provider honours one (round r uses seed + r).
        max_tokens: Most tokens per grading reply.
        reask: Ask once more when a reply cannot be parsed.
    """

    rounds: int = 3
    template: str = "gpt"
    temperature: float | None = 1.0
    seed: int | None = None
    max_tokens: int = 1024
    reask: bool = True

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise InputError(f"grading.rounds must be at least 1, got {self.rounds}")
        if self.template not in GRADING_TEMPLATES:
            raise UnknownNameError(
                f"Unknown grading template {self.template!r}; known: {', '.join(GRADING_TEMPLATES)}"
            )

    def build_grader(self, client: ModelClient) -> SkillMixGrader:
        return SkillMixGrader(client, self)

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed)


class SkillMixGrader:
    """Grades SKILL-MIX answers with a grader model, `settings.rounds` rounds each.

    Args:
        client: The model client that asks the grader model.
        settings: Rounds, template, grader sampling, re-ask.
        system_prompt: System message; None sends none.
    """

    def __init__(
        self,
        client: ModelClient,
        settings: GradingSettings | None = None,
        *,
        system_prompt: str | None = REFERENCE_SYSTEM_PROMPT,
    ) -> None:
        self.client = client
        self.settings = settings or GradingSettings()
        self.system_prompt = system_prompt
        self.stats = GraderStats()

    @property
    def config(self) -> dict[str, Any]:
        """What a record needs to say about how it was graded."""
        return {
            "grader": self.client.identity,
            "template": self.settings.template,
            "rounds": self.settings.rounds,
            "temperature": self.settings.params.temperature,
            "seed": self.settings.params.seed,
            "max_tokens": self.settings.params.max_tokens,
        }

    def request(self, item: GradingItem) -> GenerateRequest:
        """The grading request for all rounds of one answer (also what batch mode submits)."""
        prompt = render_grading_prompt(item.skills, item.topic, item.answer, template=self.settings.template)
        messages: list[Message] = [{"role": "user", "content": prompt}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return GenerateRequest(
            messages,
            self.settings.params,
            sample_indices=tuple(range(self.settings.rounds)),
            template_version=f"skillmix-grading:{self.settings.template}",
        )

    async def grade(self, item: GradingItem) -> list[GradingRound]:
        criteria = rubric_criteria(item.skills, item.topic)
        request = self.request(item)
        samples = await self.client.generate(request)
        parsed = [parse_rubric(s.text, criteria) if s.text is not None else None for s in samples]
        reask = [r for r, result in enumerate(parsed) if result is not None and result.points is None]
        second: dict[int, tuple[Sample, RubricResult]] = {}
        if self.settings.reask and reask:
            retry = replace(request, sample_indices=tuple(self.settings.rounds + r for r in reask))
            for r, sample in zip(reask, await self.client.generate(retry), strict=True):
                if sample.text is not None:
                    second[r] = (sample, parse_rubric(sample.text, criteria))
        rounds = [self._round(r, samples[r], parsed[r], second.get(r)) for r in range(self.settings.rounds)]
        self._count(rounds)
        return rounds

    async def grade_as_completed(
        self, items: Sequence[GradingItem]
    ) -> AsyncIterator[tuple[int, list[GradingRound]]]:
        """(index, rounds) for every item, as each finishes, so callers can write records as they go."""

        async def indexed(index: int, item: GradingItem) -> tuple[int, list[GradingRound]]:
            return index, await self.grade(item)

        tasks = [asyncio.ensure_future(indexed(i, item)) for i, item in enumerate(items)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _round(
        self,
        index: int,
        sample: Sample,
        result: RubricResult | None,
        second: tuple[Sample, RubricResult] | None,
    ) -> GradingRound:
        grader = self.client.identity
        if result is None:
            reason = f"request failed: {sample.error}"
            return GradingRound(index, grader, None, reason, None, Usage(), error=sample.error)
        if second is None:
            return GradingRound(
                index, grader, result.points, result.unscored, sample.text, sample.usage,
                result.reported_total, cached=sample.cached,
            )  # fmt: skip
        again, reparsed = second
        return GradingRound(
            index, grader, reparsed.points, reparsed.unscored, again.text, sample.usage + again.usage,
            reparsed.reported_total, reasked=True, first_raw=sample.text,
            cached=sample.cached and again.cached,
        )  # fmt: skip

    def _count(self, rounds: list[GradingRound]) -> None:
        for r in rounds:
            self.stats.rounds += 1
            self.stats.reasked += r.reasked
            if r.error is not None:
                self.stats.failed += 1
            elif r.points is not None:
                self.stats.scored += 1
            else:
                self.stats.unscored += 1
