"""The SKILL-MIX grader: rubric prompt -> R grading rounds -> per round, k+3 points or *unscored: reason*.

Prompt text and parsing come from the protocol layer (`skillmix.prompts`, `skillmix.rubric`); this module
only decides how to ask. The R rounds are samples 0..R-1 of one prompt (one call with OpenAI's `n`). A
reply the parser cannot read gets one re-ask — sample R + round, so a cached bad reply is never replayed
as its own re-ask — and if that is unreadable too, the round stays unscored and is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graders.client import GenerateRequest, ModelClient, Sample
from graders.interface import Message, SamplingParams
from skillmix.catalog import Skill
from skillmix.errors import InputError, UnknownNameError
from skillmix.graded import Grading
from skillmix.prompts import GRADING_TEMPLATES, render_grading_prompt, rubric_criteria
from skillmix.rubric import RubricResult, parse_rubric

REFERENCE_SYSTEM_PROMPT = "You are a helpful assistant."
"""The system message of every grading call in the reference's records (its `system prompt` column)."""


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
    draw: str = ""
    """The generation's identity (`generation_draw`): in the cache key, so two generations that happen to
    have the same text are graded independently, as separate calls would be."""


DRAW_FIELDS = ("step", "setting", "k", "combination_index", "generation_round")
"""What names one evaluation generation (a D(k) record is named by its `id`). Not the run's name: a
checkpoint evaluated again under another name (`validate --ckpt_path`) reuses its gradings."""


def generation_draw(record: Mapping[str, Any]) -> str:
    """A generation's identity for its gradings' cache keys: `id=...` for a D(k) record, else the
    evaluation fields. Stable across re-runs, so a re-run still makes no call."""
    if record.get("id") is not None:
        return f"id={record['id']}"
    return "/".join(f"{name}={record.get(name)}" for name in DRAW_FIELDS)


@dataclass(frozen=True)
class GradingSettings:
    """How answers are graded, as configs name it (the grader model itself is `ClientSettings`).

    Args:
        rounds: Grading rounds per answer; points are a majority vote over them (the paper: 3). One round
            costs about a third as much and trusts a single reply.
        template: Grading prompt template ("gpt": the rubric table the paper's GPT-4 grader used).
        temperature: Grader sampling temperature (the reference's OpenAI default, 1.0).
        seed: Base seed where the provider honours one (round r uses seed + r).
        max_tokens: Most tokens per grading reply: the reference's 512. The real GPT-4 replies at k=3 are at
            most 359 tokens (median 207, by the Llama/Mistral tokenizer; GPT-4's is shorter); a reply cut
            short of a rubric row is unscored, never guessed.
        reask: Ask once more when a reply cannot be parsed (the reference never does; its scoring mode,
            `reference_compat`, counts a re-asked grading as its unreadable first reply).
        require_length_row: Treat a reply without the "At most n sentences" row as unreadable. By default
            it is scored (its length point is a placeholder), because the length point is counted from the
            text itself (`programmatic_length`), as in the reference.
    """

    rounds: int = 3
    template: str = "gpt"
    temperature: float | None = 1.0
    seed: int | None = None
    max_tokens: int = 512
    reask: bool = True
    require_length_row: bool = False

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
        require_length_row: A reply without the length row is unreadable (default: scored, see
            `GradingSettings`).
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
        self.length_optional = not self.settings.require_length_row
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
            "reask": self.settings.reask,
            "length_row": "optional" if self.length_optional else "required",
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
            draw=item.draw,
        )

    async def grade(self, item: GradingItem) -> list[Grading]:
        criteria = rubric_criteria(item.skills, item.topic)
        request = self.request(item)
        samples = await self.client.generate(request)
        parsed = [self._parse(s.text, criteria) if s.text is not None else None for s in samples]
        reask = [r for r, result in enumerate(parsed) if result is not None and result.points is None]
        second: dict[int, tuple[Sample, RubricResult]] = {}
        if self.settings.reask and reask:
            retry = replace(request, sample_indices=tuple(self.settings.rounds + r for r in reask))
            for r, sample in zip(reask, await self.client.generate(retry), strict=True):
                if sample.text is not None:
                    second[r] = (sample, self._parse(sample.text, criteria))
        rounds = [self._round(r, samples[r], parsed[r], second.get(r)) for r in range(self.settings.rounds)]
        self._count(rounds)
        return rounds

    async def grade_as_completed(
        self, items: Sequence[GradingItem]
    ) -> AsyncIterator[tuple[int, list[Grading]]]:
        """(index, rounds) for every item, as each finishes, so callers can write records as they go."""

        async def indexed(index: int, item: GradingItem) -> tuple[int, list[Grading]]:
            return index, await self.grade(item)

        tasks = [asyncio.ensure_future(indexed(i, item)) for i, item in enumerate(items)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _parse(self, reply: str, criteria: Sequence[str]) -> RubricResult:
        return parse_rubric(reply, criteria, length_optional=self.length_optional)

    def _round(
        self,
        index: int,
        sample: Sample,
        result: RubricResult | None,
        second: tuple[Sample, RubricResult] | None,
    ) -> Grading:
        grader = self.client.identity
        if result is None:
            reason = f"request failed: {sample.error}"
            return Grading(None, reason, grader, round=index, error=sample.error)
        if second is None:
            return Grading(
                result.points, result.unscored, grader, sample.text, result.length_missing, round=index,
                usage=sample.usage, reported_total=result.reported_total, cached=sample.cached,
            )  # fmt: skip
        again, reparsed = second
        return Grading(
            reparsed.points, reparsed.unscored, grader, again.text, reparsed.length_missing, reasked=True,
            round=index, usage=sample.usage + again.usage, reported_total=reparsed.reported_total,
            first_raw=sample.text, cached=sample.cached and again.cached,
        )  # fmt: skip

    def _count(self, rounds: list[Grading]) -> None:
        for r in rounds:
            self.stats.rounds += 1
            self.stats.reasked += r.reasked
            if r.error is not None:
                self.stats.failed += 1
            elif r.points is not None:
                self.stats.scored += 1
            else:
                self.stats.unscored += 1
