"""Any chat model as the SKILL-MIX student of `cli.py evaluate`: an API model, a server (vLLM, SGLang,
`transformers serve`, ...) or an in-process Hugging Face model, all through the graders' `ModelClient`
(concurrency, bounded retries, the response cache, cost and budget; the in-process model batches
concurrent requests itself).

The conversation is the callback's: turn-1 prompt -> the student's answer -> turn-2 prompt -> the
student's answer, with turn 2 sent after the student's own first answer. Generation round r of a
combination is sample r-1 of the same prompt, so the rounds differ while every request stays a cache key:
a re-run (after a kill, say) gets the answers it was given before without calling again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from graders.client import GenerateRequest, ModelClient
from graders.interface import Message, SamplingParams
from graders.settings import ClientSettings
from skillmix.errors import InputError

REFERENCE_SYSTEM_PROMPT = "You are a helpful assistant."
"""What the reference sends to API students before the first turn."""


@dataclass(frozen=True)
class StudentSettings(ClientSettings):
    """The evaluated model, how to reach it and how it samples (the grader's fields, plus sampling).

    Args:
        provider: "openai", "anthropic", "openai-compatible" (any server at `base_url`: vLLM, SGLang,
            `transformers serve`, Ollama) or "hf" (an in-process Hugging Face model; `model` is a folder).
        model: Model id as the provider names it (required), or for provider=hf a folder.
        temperature: 0 for greedy decoding; otherwise sampling at this temperature.
        top_p: Nucleus sampling mass (with temperature > 0).
        max_new_tokens: Most tokens per answer.
        system_prompt: System turn sent first; default "You are a helpful assistant." (the reference's)
            for API and server students, none for hf (as the evaluation callback); "" sends none.
    """

    model: str = ""
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 512
    system_prompt: str | None = None

    def check(self) -> None:
        if not self.model:
            raise InputError("no student model. Fix: pass --student.model (a model id, or a folder for hf)")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_new_tokens < 1:
            raise InputError(
                f"invalid student sampling: temperature={self.temperature} (>= 0), top_p={self.top_p} "
                f"(in (0, 1]), max_new_tokens={self.max_new_tokens} (>= 1)"
            )

    @property
    def system(self) -> str:
        if self.system_prompt is not None:
            return self.system_prompt
        return "" if self.provider == "hf" else REFERENCE_SYSTEM_PROMPT

    def description(self, generation_template: str) -> dict[str, object]:
        """The `student` field of every generation line and record: who answered, and how."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "system_prompt": self.system or None,
            "generation_template": generation_template,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
        }


def turn_seed(seed: int, turn: int) -> int:
    """The sampling seed of one turn of every conversation (generation round r adds r - 1)."""
    digest = hashlib.sha256(f"skillmix-evaluate/{seed}/turn{turn}".encode()).digest()
    return int.from_bytes(digest[:6], "big") * 16


class StudentFailedError(RuntimeError):
    """One conversation's request failed after its retries; the item is left for the next run."""


class ChatStudent:
    """Answers SKILL-MIX conversations through a `ModelClient`."""

    def __init__(self, client: ModelClient, settings: StudentSettings, seed: int, template: str) -> None:
        self.client = client
        self.settings = settings
        self.seed = seed
        self.template_version = f"skillmix-evaluate/{template}"

    def params(self, turn: int) -> SamplingParams:
        greedy = self.settings.temperature == 0
        return SamplingParams(
            max_tokens=self.settings.max_new_tokens,
            temperature=self.settings.temperature,
            top_p=None if greedy else self.settings.top_p,
            seed=turn_seed(self.seed, turn),
        )

    async def two_turns(self, user_turns: tuple[str, str], generation_round: int) -> list[dict[str, str]]:
        """The whole conversation (system turn first, if any); raises `StudentFailedError`."""
        messages: list[Message] = [{"role": "system", "content": self.settings.system}]
        messages = messages if self.settings.system else []
        for turn, prompt in enumerate(user_turns, start=1):
            messages.append({"role": "user", "content": prompt})
            request = GenerateRequest(
                list(messages), self.params(turn), (generation_round - 1,), self.template_version
            )
            (sample,) = await self.client.generate(request)
            if sample.text is None:
                raise StudentFailedError(f"turn {turn}: {sample.error}")
            messages.append({"role": "assistant", "content": sample.text})
        return [{"role": m["role"], "content": m["content"]} for m in messages]
