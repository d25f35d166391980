"""The teacher's side of one example: the two-turn SKILL-MIX generation conversation.

Turn 1 asks for a text showing all k skills on the topic; the teacher's answer stays in the conversation,
and turn 2 asks it to improve that text within max(1, k-1) sentences. Both calls go through the shared
`ModelClient`, so both are cached: a re-run replays a finished conversation without calling the teacher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graders.client import GenerateRequest, ModelClient, Sample
from graders.interface import ErrorKind, Message, SamplingParams, Usage
from skillmix.catalog import Skill
from skillmix.prompts import render_generation_turn1, render_generation_turn2


@dataclass(frozen=True)
class TeacherSampling:
    """How the teacher samples; every field is part of the cache key and recorded with the data.

    Args:
        template: Generation prompt template (`skillmix.prompts.GENERATION_TEMPLATES`).
        max_tokens: Most tokens per answer: the reference's 512 (real answers are 100-400 tokens).
        temperature: Sampling temperature (the paper does not say; 1.0 is the OpenAI default, kept explicit).
        top_p: Nucleus mass; None leaves the provider's default.
        seed: Provider seed where honoured; None sends none.
    """

    template: str = "default"
    max_tokens: int = 512
    temperature: float | None = 1.0
    top_p: float | None = None
    seed: int | None = None

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(self.max_tokens, self.temperature, self.top_p, self.seed)

    @property
    def template_version(self) -> str:
        return f"generation/{self.template}"


class TeacherError(RuntimeError):
    """The teacher gave no usable answer; `kind` is the client's error kind (None: an empty reply)."""

    def __init__(self, message: str, kind: ErrorKind | None) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Conversation:
    messages: list[Message]
    """PROMPT1, ANSWER1, PROMPT2, ANSWER2."""
    usage: Usage
    served_by: str

    @property
    def final_reply(self) -> str:
        return self.messages[-1]["content"]


def turn1_request(skills: Sequence[Skill], topic: str, sampling: TeacherSampling) -> GenerateRequest:
    prompt = render_generation_turn1(skills, topic, sampling.template)
    return GenerateRequest(
        [{"role": "user", "content": prompt}], sampling.params, (0,), sampling.template_version
    )


def turn2_request(
    skills: Sequence[Skill], topic: str, answer1: str, sampling: TeacherSampling
) -> GenerateRequest:
    first = turn1_request(skills, topic, sampling)
    messages: list[Message] = [
        *first.messages,
        {"role": "assistant", "content": answer1},
        {"role": "user", "content": render_generation_turn2(len(skills), sampling.template)},
    ]
    return GenerateRequest(messages, sampling.params, (0,), sampling.template_version)


def _reply(sample: Sample, turn: int) -> str:
    if sample.text is None:
        raise TeacherError(f"turn {turn}: {sample.error}", sample.error_kind)
    if not sample.text.strip():
        raise TeacherError(f"turn {turn}: the teacher replied with empty text", None)
    return sample.text


async def converse(
    client: ModelClient, skills: Sequence[Skill], topic: str, sampling: TeacherSampling
) -> Conversation:
    """Both turns in one conversation; raises `TeacherError` when either turn has no usable reply."""
    (first,) = await client.generate(turn1_request(skills, topic, sampling))
    answer1 = _reply(first, 1)
    second_request = turn2_request(skills, topic, answer1, sampling)
    (second,) = await client.generate(second_request)
    answer2 = _reply(second, 2)
    messages: list[Message] = [*second_request.messages, {"role": "assistant", "content": answer2}]
    return Conversation(messages, first.usage + second.usage, second.served_by or client.backend.model)
