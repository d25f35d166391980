"""Batched two-turn generation with the student's chat template: turn-1 prompt -> answer 1 -> turn-2 prompt
-> answer 2, for a whole batch of conversations at once.

Prompts are left-padded (so every row's next token sits in the last column), the KV cache is on, and a row
stops at the model's end-of-turn / end-of-sequence tokens. Sampling runs under a forked RNG seeded per batch:
training's random state is untouched, and a batch's answers do not depend on which rank made them or on
what was generated before it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

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
            raise ValueError(f"invalid student sampling: {self}")

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
            return GenerationConfig.from_pretrained(model_name_or_path)
    return model.generation_config if model.generation_config is not None else GenerationConfig()


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
        self.generation_config = sampling.generation_config(
            model_generation_config(model, model_name_or_path)
        )
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    @property
    def effective_sampling(self) -> dict[str, Any]:
        """The sampling `generate` really uses, model and library defaults included (written to records)."""
        return {name: getattr(self.generation_config, name, None) for name in SAMPLING_FIELDS}

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
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            output = self.model.generate(  # type: ignore[operator]  # transformers' annotation
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=self.generation_config,
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
