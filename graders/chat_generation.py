"""Batched chat generation with a Hugging Face model: the one helper under the in-process grader/teacher
backend and the evaluation's student generation.

Prompts are rendered with the model's chat template and left-padded (every row's next token sits in the last
column), the KV cache is on, and a reply ends at the first end-of-turn token: the EOS ids of the model's
generation config, of the `generation_config.json` shipped beside it, and the tokenizer's EOS. Sampling runs
under a forked RNG, seeded per call when a seed is given, so the caller's random state (training's) is
left as it was and a batch's texts depend only on its prompts and seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

Conversation = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: int
    """Generated tokens, the end-of-turn token included when there is one."""
    prompt_tokens: int


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


class ChatGenerator:
    """A model, its tokenizer and its end-of-turn rule, answering batches of conversations.

    Args:
        model: A causal LM (possibly sharded: pass `synced_gpus` then).
        tokenizer: Its tokenizer, with a chat template.
        model_name_or_path: Where the model came from, to read its shipped generation config.
        synced_gpus: Keep every rank generating until all are done (FSDP-sharded models).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model_name_or_path: str | None = None,
        synced_gpus: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.synced_gpus = synced_gpus
        self.stop_ids = stop_token_ids(model, tokenizer, model_name_or_path)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def left_padded(self, conversations: Sequence[Conversation]) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and attention mask of the rendered prompts, padded on the left."""
        texts = [
            self.tokenizer.apply_chat_template(
                [{"role": m["role"], "content": m["content"]} for m in c],
                tokenize=False,
                add_generation_prompt=True,
            )
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
        return input_ids, attention_mask

    @torch.no_grad()
    def replies(
        self,
        conversations: Sequence[Conversation],
        *,
        max_new_tokens: int,
        sampling: Mapping[str, Any],
        seed: int | None,
        num_return_sequences: int = 1,
    ) -> list[list[Reply]]:
        """`num_return_sequences` replies per conversation; `sampling` holds `generate`'s sampling
        arguments (do_sample, temperature, top_p, top_k, ...)."""
        input_ids, attention_mask = self.left_padded(conversations)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            output = self.model.generate(  # type: ignore[operator]  # transformers' annotation
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                max_new_tokens=max_new_tokens,
                num_return_sequences=num_return_sequences,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
                use_cache=True,
                synced_gpus=self.synced_gpus,
                **sampling,
            )
        prompt_tokens = attention_mask.sum(dim=1).tolist()
        generated = output[:, input_ids.shape[1] :].tolist()
        return [
            [
                self._reply(generated[i * num_return_sequences + j], int(prompt_tokens[i]))
                for j in range(num_return_sequences)
            ]
            for i in range(len(conversations))
        ]

    def _reply(self, ids: list[int], prompt_tokens: int) -> Reply:
        """The text up to the first end-of-turn token (what follows it is padding)."""
        stops = set(self.stop_ids)
        end = next((i for i, token in enumerate(ids) if token in stops), None)
        text = self.tokenizer.decode(ids[: len(ids) if end is None else end], skip_special_tokens=True)
        return Reply(str(text).strip(), len(ids) if end is None else end + 1, prompt_tokens)
