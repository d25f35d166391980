"""Batched two-turn generation with the student's chat template: turn-1 prompt -> answer 1 -> turn-2 prompt
-> answer 2, for a whole batch of conversations at once, through the graders' one chat-generation helper
(left padding, KV cache, end of turn, a forked RNG seeded per batch: training's random state is untouched,
and a batch's answers do not depend on which rank made them or on what was generated before it).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from datamodules.packaged import resolve
from graders.chat_generation import ChatGenerator
from lightning_modules.attention import generation_attention
from skillmix.errors import InputError

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class StudentSampling:
    """How the evaluated model samples its answers. The defaults are the reference's: its local students call
    `generate(do_sample=True, temperature=0.7, repetition_penalty=1.0, max_new_tokens=512)` and nothing else,
    so the rest comes from the model's own generation config (its shipped `generation_config.json`, e.g.
    LLaMA-2-chat's top_p 0.9) and otherwise Hugging Face's defaults (top_k 50, top_p 1.0).

    Args:
        temperature: Sampling temperature; 0 for greedy decoding.
        max_new_tokens: Most tokens per answer (real answers: ~200-330 tokens for answer 1 at k=2..4).
        repetition_penalty: 1.0 is none.
        top_k: Top-k sampling; None keeps the model's generation config (HF default 50), 0 turns it off.
        top_p: Nucleus sampling mass; None keeps the model's generation config (HF default 1.0).
    """

    temperature: float = 0.7
    max_new_tokens: int = 512
    repetition_penalty: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if (
            self.temperature < 0
            or self.max_new_tokens < 1
            or self.repetition_penalty <= 0
            or (self.top_k is not None and self.top_k < 0)
            or (self.top_p is not None and not 0 < self.top_p <= 1)
        ):
            raise InputError(f"invalid student sampling: {self}")

    def generation_config(self, base: GenerationConfig) -> GenerationConfig:
        """`base` (the model's own generation config) with these settings on top and the library's defaults
        filled in where neither sets a value: what `generate` runs with, every value explicit."""
        config = copy.deepcopy(base)
        config.update(max_new_tokens=self.max_new_tokens, repetition_penalty=self.repetition_penalty)
        if self.temperature > 0:
            config.update(do_sample=True, temperature=self.temperature)
            config.update(
                **{k: v for k, v in (("top_k", self.top_k), ("top_p", self.top_p)) if v is not None}
            )
        # transformers 5 leaves unset values None until `generate` fills its defaults (top_k 50, top_p 1.0);
        # filling them here makes the recorded values the used ones. Older versions hold them already.
        if defaults := getattr(config, "_get_default_generation_params", None):
            config.update(**defaults(), defaults_only=True)
        if self.temperature == 0:
            config.update(do_sample=False)
            config.temperature = config.top_k = config.top_p = None  # unused by greedy decoding
        return config


SAMPLING_FIELDS = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens")
"""What a record says about how its answers were sampled (the effective values, defaults included)."""


def model_generation_config(
    model: PreTrainedModel, model_name_or_path: str | None = None
) -> GenerationConfig:
    """The generation config shipped at `model_name_or_path` (a model built from its config alone does not
    read it), else the model's own."""
    if model_name_or_path is not None:
        with contextlib.suppress(OSError):
            return GenerationConfig.from_pretrained(resolve(model_name_or_path))
    return model.generation_config if model.generation_config is not None else GenerationConfig()


class BatchGenerator:
    """Answers a batch of SKILL-MIX conversations with one `generate` call per turn."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        sampling: StudentSampling,
        *,
        synced_gpus: bool = False,
        model_name_or_path: str | None = None,
    ) -> None:
        self.chat = ChatGenerator(
            model, tokenizer, model_name_or_path=model_name_or_path, synced_gpus=synced_gpus
        )
        self.sampling = sampling
        self.generation_config = sampling.generation_config(
            model_generation_config(model, model_name_or_path)
        )

    @property
    def effective_sampling(self) -> dict[str, Any]:
        """The sampling `generate` really uses, model and library defaults included (written to records)."""
        return {name: getattr(self.generation_config, name, None) for name in SAMPLING_FIELDS}

    def reply(self, conversations: Sequence[Conversation], seed: int) -> list[str]:
        """The assistant's next turn for each conversation, decoded without special tokens."""
        # explicit SDPA kernels: the pad rows of left-padded prompts are fully masked (attention.py)
        with generation_attention():
            replies = self.chat.replies(
                conversations,
                max_new_tokens=self.sampling.max_new_tokens,
                sampling={"generation_config": self.generation_config},
                seed=seed,
            )
        return [reply.text for (reply,) in replies]

    def two_turns(self, user_turns: Sequence[tuple[str, str]], seed: int) -> list[Conversation]:
        """The whole SKILL-MIX conversation for each (turn-1 prompt, turn-2 prompt) pair."""
        conversations: list[Conversation] = [[{"role": "user", "content": first}] for first, _ in user_turns]
        for conversation, answer in zip(conversations, self.reply(conversations, seed), strict=True):
            conversation.append({"role": "assistant", "content": answer})
        for conversation, (_, second) in zip(conversations, user_turns, strict=True):
            conversation.append({"role": "user", "content": second})
        for conversation, answer in zip(conversations, self.reply(conversations, seed + 1), strict=True):
            conversation.append({"role": "assistant", "content": answer})
        return conversations
