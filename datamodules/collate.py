"""From tokenized examples to padded batch tensors (the batch contract in skillmix_datamodule.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import Dataset as TorchDataset

from datamodules.batch_sampler import IndexWithStepTokens
from datamodules.chat_tokenization import IGNORE_INDEX
from skillmix.errors import InputError


class WindowedExamples(TorchDataset):
    """Tokenized examples looked up by `(index, loss_tokens_in_step)` keys from `TokenWindowBatchSampler`."""

    def __init__(self, examples: Dataset) -> None:
        self.examples = examples.select_columns(["input_ids", "labels"])

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, key: IndexWithStepTokens) -> dict[str, Any]:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[IndexWithStepTokens]) -> list[dict[str, Any]]:
        rows = self.examples[[index for index, _ in keys]]
        return [
            {"input_ids": input_ids, "labels": labels, "loss_tokens_in_step": step_tokens}
            for input_ids, labels, (_, step_tokens) in zip(
                rows["input_ids"], rows["labels"], keys, strict=True
            )
        ]


class PaddingCollator:
    """Right-pads to the longest example of the batch, or to a fixed `pad_to` (the paper's max_length)."""

    def __init__(self, pad_token_id: int, pad_to: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to = pad_to

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(example["input_ids"]) for example in examples)
        if self.pad_to is not None and longest > self.pad_to:
            raise InputError(f"an example of {longest} tokens does not fit pad_to={self.pad_to}")
        width = longest if self.pad_to is None else self.pad_to
        input_ids = torch.full((len(examples), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            length = len(example["input_ids"])
            input_ids[row, :length] = torch.as_tensor(example["input_ids"], dtype=torch.long)
            labels[row, :length] = torch.as_tensor(example["labels"], dtype=torch.long)
            attention_mask[row, :length] = 1
        step_tokens = {example["loss_tokens_in_step"] for example in examples}
        if len(step_tokens) != 1:
            raise ValueError(f"examples of one batch disagree on loss_tokens_in_step: {sorted(step_tokens)}")
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "loss_tokens_in_step": torch.tensor(step_tokens.pop(), dtype=torch.long),
        }
