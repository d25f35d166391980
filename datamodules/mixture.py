"""Seeded choice of which examples a run trains and validates on.

Everything works on positions in one pool: the usable examples of every D(k) file, one file after the
other, then the plain-text chunks. The order of the draws is fixed (validation hold-out, then each file's
count or weight, then the subsample, then the text share), so one seed gives one mixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from skillmix.errors import InputError


@dataclass(frozen=True)
class DataSource:
    """One D(k) JSONL file in a training mixture.

    Args:
        path: The D(k) JSONL file.
        count: Exactly this many examples from the file (after over-long ones are dropped); more than the
            file holds repeats examples. Overrides `weight`.
        weight: Multiplier on the file's size: 0.5 draws half of its examples, 2.0 uses each one twice.
    """

    path: str
    count: int | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class Mixture:
    train: list[int]
    """Pool positions of the training examples (a position appears more than once when upsampled)."""
    validation: list[int]
    train_per_source: list[int]
    """Training examples drawn from each file, before `subsample`."""
    text: int
    """Training examples that are plain-text chunks."""


def _draw(available: Sequence[int], n: int, generator: torch.Generator) -> list[int]:
    """n of the available positions: whole copies first, then a random subset without replacement."""
    if n == 0:
        return []
    if not available:
        raise ValueError("cannot draw examples from a source that has none left")
    copies, rest = divmod(n, len(available))
    chosen = torch.randperm(len(available), generator=generator)[:rest].tolist()
    return list(available) * copies + sorted(available[i] for i in chosen)


def draw_mixture(
    source_sizes: Sequence[int],
    sources: Sequence[DataSource],
    text_size: int = 0,
    text_ratio: float = 0.0,
    subsample: int | None = None,
    val_examples: int = 0,
    seed: int = 0,
) -> Mixture:
    """Pick training and validation positions in the pool of `sum(source_sizes) + text_size` examples."""
    if len(source_sizes) != len(sources):
        raise InputError("one size per source is needed")
    if not 0.0 <= text_ratio < 1.0:
        raise InputError(f"text_ratio must be in [0, 1), got {text_ratio}")
    if text_ratio > 0 and text_size == 0:
        raise InputError("text_ratio > 0 needs a text corpus with at least one chunk")
    skillmix_size = sum(source_sizes)
    if skillmix_size == 0:
        raise InputError(
            "no usable SKILL-MIX examples: every one was dropped by the length cap or the files are empty"
        )
    if not 0 <= val_examples < skillmix_size:
        raise InputError(
            f"val_examples={val_examples} holds back that many examples for validation, but there are "
            f"{skillmix_size} usable ones. Fix: pass --data.val_examples with a number from 0 to "
            f"{skillmix_size - 1} (0: no validation loss and no `validate`)"
        )
    generator = torch.Generator().manual_seed(seed)
    held_out = set(torch.randperm(skillmix_size, generator=generator)[:val_examples].tolist())

    train, train_per_source, start = [], [], 0
    for size, source in zip(source_sizes, sources, strict=True):
        available = [position for position in range(start, start + size) if position not in held_out]
        if (source.count is not None and source.count < 0) or source.weight < 0:
            raise InputError(f"count and weight must be >= 0, got {source}")
        n = source.count if source.count is not None else round(source.weight * len(available))
        train += _draw(available, n, generator)
        train_per_source.append(n)
        start += size
    if subsample is not None:
        if not 0 < subsample <= len(train):
            raise InputError(f"subsample must be in [1, {len(train)}] (the mixed examples), got {subsample}")
        train = sorted(train[i] for i in torch.randperm(len(train), generator=generator)[:subsample].tolist())
    if not train:
        raise InputError("the mixture holds no training examples; check counts and weights")

    text = round(text_ratio / (1.0 - text_ratio) * len(train))
    train += _draw(range(skillmix_size, skillmix_size + text_size), text, generator)
    return Mixture(train=train, validation=sorted(held_out), train_per_source=train_per_source, text=text)
