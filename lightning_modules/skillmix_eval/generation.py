"""Batched two-turn generation with the student's chat template: turn-1 prompt -> answer 1 -> turn-2 prompt
-> answer 2, for a whole batch of conversations at once, through the graders' one chat-generation helper
(left padding, KV cache, end of turn, a forked RNG seeded per batch: training's random state is untouched,
and a batch's answers do not depend on which rank made them or on what was generated before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from graders.chat_generation import ChatGenerator
from lightning_modules.attention import generation_attention
from skillmix.errors import InputError

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class StudentSampling:
    """How the evaluated model samples its answers (the paper does not say; these are our defaults).

    Args:
        temperature: 0 for greedy decoding; otherwise sampling at this temperature.
        top_p: Nucleus sampling mass (with temperature > 0).
        max_new_tokens: Most tokens per answer (real answers: ~200-330 tokens for answer 1 at k=2..4).
    """

    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_new_tokens < 1:
            raise InputError(f"invalid student sampling: {self}")


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

    def reply(self, conversations: Sequence[Conversation], seed: int) -> list[str]:
        """The assistant's next turn for each conversation, decoded without special tokens."""
        sampled = self.sampling.temperature > 0
        arguments = {
            "do_sample": sampled,
            "temperature": self.sampling.temperature if sampled else None,
            "top_p": self.sampling.top_p if sampled else None,
            "top_k": None,
        }
        # explicit SDPA kernels: the pad rows of left-padded prompts are fully masked (attention.py)
        with generation_attention():
            replies = self.chat.replies(
                conversations, max_new_tokens=self.sampling.max_new_tokens, sampling=arguments, seed=seed
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
