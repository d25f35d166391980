"""Padding to 1024 (the paper) vs. the datamodule's default (pad to the longest, bucketed by length).

    .venv/bin/python benchmarks/padding.py            # ~1-2 minutes on 2 CPU cores

Example lengths follow the real length table (../shared/PAPER.md: Mistral tokenizer on GPT-4 two-turn
records) for a D(1)+D(2)+D(3) mix: per k a normal distribution with the table's mean, a spread matching its
maximum and its share over 1024, and the mix proportions below (mean ~730 tokens). Over-long examples are
dropped (the datamodule's default). Both modes run the same examples through the datamodule's own batch
sampler and collator, then forward+backward of a small random Llama; the script prints the padding share
and non-padding tokens/s of each, their ratio, and the ideal ratio 1024 / mean length (what removing all
padding would give if compute were linear in tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from jsonargparse import auto_cli
from transformers import LlamaConfig, LlamaForCausalLM

from datamodules.batch_sampler import TokenWindowBatchSampler
from datamodules.chat_tokenization import IGNORE_INDEX
from datamodules.collate import PaddingCollator


@dataclass(frozen=True)
class LengthProfile:
    share: float
    mean_length: float
    spread: float
    mean_answers: float
    """ANSWER1 + ANSWER2 tokens: the targets."""


# From the PAPER.md table: k=1 ~540 (extrapolated), k=2 720 (max 815 of 15), k=3 931 (4 of 40 over 1024).
PROFILES = {
    1: LengthProfile(share=0.30, mean_length=540, spread=40, mean_answers=220),
    2: LengthProfile(share=0.40, mean_length=720, spread=50, mean_answers=332),
    3: LengthProfile(share=0.30, mean_length=931, spread=73, mean_answers=475),
}


def synthesize(examples: int, max_length: int, vocab_size: int, seed: int) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for k, profile in PROFILES.items():
        count = round(profile.share * examples)
        lengths = (
            (torch.randn(count, generator=generator) * profile.spread + profile.mean_length).round().long()
        )
        for length in lengths.tolist():
            if length > max_length:
                continue  # truncation="drop"
            answers = round(length * profile.mean_answers / profile.mean_length)
            ids = torch.randint(5, vocab_size, (length,), generator=generator).tolist()
            rows.append(
                {"input_ids": ids, "labels": [IGNORE_INDEX] * (length - answers) + ids[-answers:], "k": k}
            )
    return rows


def epoch_batches(rows, batch_size: int, pad_to: int | None, seed: int) -> list[dict[str, torch.Tensor]]:
    """One epoch of batches as the datamodule builds them (bucketing only when padding to the longest)."""
    lengths = [len(row["input_ids"]) for row in rows]
    targets = [sum(label != IGNORE_INDEX for label in row["labels"][1:]) for row in rows]
    sampler = TokenWindowBatchSampler(
        lengths, targets, batch_size, bucket_batches=None if pad_to else 32, seed=seed
    )
    collate = PaddingCollator(pad_token_id=0, pad_to=pad_to)
    return [
        collate([rows[index] | {"loss_tokens_in_step": step} for index, step in keys]) for keys in sampler
    ]


def train_step(model: LlamaForCausalLM, batch: dict[str, torch.Tensor]) -> float:
    """Seconds for one forward+backward."""
    start = time.perf_counter()
    model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
    ).loss.backward()
    return time.perf_counter() - start


def compare(model, modes: dict[str, list[dict[str, torch.Tensor]]]) -> dict[str, tuple[float, float]]:
    """(padding share, non-padding tokens/s) per mode. Batches of the modes alternate, so that a change in
    the machine's load (it may be shared) hits both modes alike."""
    for batches in modes.values():
        train_step(model, batches[0])  # warm-up
    seconds = dict.fromkeys(modes, 0.0)
    for step in range(max(len(batches) for batches in modes.values())):
        for mode, batches in modes.items():
            if step < len(batches):
                seconds[mode] += train_step(model, batches[step])
    results = {}
    for mode, batches in modes.items():
        real = sum(int(batch["attention_mask"].sum()) for batch in batches)
        total = sum(batch["attention_mask"].numel() for batch in batches)
        results[mode] = (1 - real / total, real / seconds[mode])
    return results


def benchmark(
    examples: int = 96,
    batch_size: int = 8,
    max_length: int = 1024,
    hidden_size: int = 256,
    layers: int = 4,
    threads: int | None = None,
    seed: int = 0,
) -> None:
    """Print padding share and non-padding tokens/s for pad-to-max_length vs. the default.

    Args:
        examples: Examples to synthesize (before over-long ones are dropped).
        batch_size: Micro-batch size.
        max_length: The length cap, and the width of every batch in the paper's mode.
        hidden_size: Width of the random Llama (vocab 4096, intermediate 8/3 x hidden).
        layers: Decoder layers of the random Llama.
        threads: torch CPU threads (None: torch's default).
        seed: Seed of the lengths, the token ids, the batch order and the weights.
    """
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=4096,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 8 // 3,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden_size // 64),
        max_position_embeddings=max_length,
    )
    model = LlamaForCausalLM(config)  # SDPA attention, the transformers default
    rows = synthesize(examples, max_length, config.vocab_size, seed)
    mean_length = sum(len(row["input_ids"]) for row in rows) / len(rows)
    modes = {
        f"pad to {max_length}": epoch_batches(rows, batch_size, max_length, seed),
        "default (longest, bucketed)": epoch_batches(rows, batch_size, None, seed),
    }
    results = compare(model, modes)
    print(
        f"{len(rows)} of {examples} examples kept (over {max_length} dropped); mean length {mean_length:.0f}"
    )
    print(
        f"model: Llama {layers} layers x {hidden_size} hidden, torch threads {torch.get_num_threads()}, CPU"
    )
    print(f"{'mode':<30}{'batches':>8}{'padding':>10}{'non-pad tokens/s':>18}")
    for mode, (padding, speed) in results.items():
        print(f"{mode:<30}{len(modes[mode]):>8}{padding:>10.1%}{speed:>18.0f}")
    (_, paper_speed), (_, default_speed) = results.values()
    ratio, ideal = default_speed / paper_speed, max_length / mean_length
    print(
        f"speed-up {ratio:.2f}x; ideal {ideal:.2f}x ({max_length} / mean length); "
        f"measured / ideal {ratio / ideal:.0%}"
    )


if __name__ == "__main__":
    auto_cli(benchmark)
