"""Batched two-turn generation with the student's chat template: turn-1 prompt -> answer 1 -> turn-2 prompt
-> answer 2, for a whole batch of conversations at once.

Prompts are left-padded (so every row's next token sits in the last column), the KV cache is on, and a row
stops at the model's end-of-turn / end-of-sequence tokens. Sampling runs under a forked RNG seeded per batch:
training's random state is untouched, and a batch's answers do not depend on which rank made them or on
what was generated before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from lightning_modules.attention import generation_attention

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
            raise ValueError(f"invalid student sampling: {self}")


def stop_token_ids(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, model_name_or_path: str | None = None
) -> list[int]:
    """End of turn: the EOS ids of the model's generation config (chat models list their end-of-turn token
    there), of the `generation_config.json` shipped at `model_name_or_path` (a model built from its config
    alone does not read it), and the tokenizer's EOS."""
    configs = [model.generation_config]
    if model_name_or_path is not None:
        # without a generation_config.json there, the model's own config and the tokenizer decide
        with contextlib.suppress(OSError):
            configs.append(GenerationConfig.from_pretrained(model_name_or_path))
    ids = {tokenizer.eos_token_id} - {None}
    for config in configs:
        eos = config.eos_token_id if config is not None else None
        ids |= set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    if not ids:
        raise ValueError(
            "neither the model's generation config nor the tokenizer defines an end-of-turn token"
        )
    return sorted(ids)


class BatchGenerator:
    """Answers a batch of chat conversations with one `generate` call."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        sampling: StudentSampling,
        *,
        synced_gpus: bool = False,
        model_name_or_path: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.synced_gpus = synced_gpus
        self.stop_ids = stop_token_ids(model, tokenizer, model_name_or_path)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def reply(self, conversations: Sequence[Conversation], seed: int) -> list[str]:
        """The assistant's next turn for each conversation, decoded without special tokens."""
        texts = [
            self.tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        # the rendered template already holds BOS where the model expects one
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention_mask[row, width - len(ids) :] = 1
        sampled = self.sampling.temperature > 0
        devices = [self.device] if self.device.type == "cuda" else []
        # explicit SDPA kernels: the pad rows of left-padded prompts are fully masked (attention.py)
        with torch.random.fork_rng(devices=devices), generation_attention():
            torch.manual_seed(seed)
            output = self.model.generate(  # type: ignore[operator]  # transformers' annotation
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                max_new_tokens=self.sampling.max_new_tokens,
                do_sample=sampled,
                temperature=self.sampling.temperature if sampled else None,
                top_p=self.sampling.top_p if sampled else None,
                top_k=None,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
                use_cache=True,
                synced_gpus=self.synced_gpus,
            )
        return [self._decode(ids) for ids in output[:, width:].tolist()]

    def _decode(self, ids: list[int]) -> str:
        """The text up to the first stop token (what follows it is padding)."""
        stops = set(self.stop_ids)
        end = next((i for i, token in enumerate(ids) if token in stops), len(ids))
        return str(self.tokenizer.decode(ids[:end], skip_special_tokens=True)).strip()

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
