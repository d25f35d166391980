"""LoRA vs full fine-tuning of the same model, side by side: trainable parameters, checkpoint size, step time.

    .venv/bin/python benchmarks/lora_vs_full.py                                  # the bundled tiny Llama
    .venv/bin/python benchmarks/lora_vs_full.py --layers 4 --hidden_size 512     # a wider random Llama

Both runs use `CausalLMModule` under a CPU `Trainer` (fp32), on the same "pretrained" base (random weights
saved with `save_pretrained`, so the LoRA run keeps it out of its checkpoints, as with a hub model) and the
same fixed batches of random tokens. Step time is the median over the steps after the first `warmup`
(forward, backward and the Adam step); checkpoint sizes are those of `trainer.save_checkpoint`: the full
training state (what `last.ckpt` holds: weights and optimizer state) and weights only (the every-N-steps
checkpoints of the paper configs).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
from jsonargparse import auto_cli
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModelForCausalLM

from datamodules.packaged import TINY_LLAMA
from lightning_modules.causal_lm import CausalLMModule
from lightning_modules.schedules import WarmupConstantLR


class StepTimer(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def save_base(root: Path, layers: int | None, hidden_size: int | None) -> tuple[Path, int]:
    """The bundled tiny Llama's config (optionally deeper/wider) with seeded random weights, saved."""
    config = AutoConfig.from_pretrained(TINY_LLAMA)
    if layers:
        config.num_hidden_layers = layers
    if hidden_size:
        config.hidden_size, config.intermediate_size = hidden_size, 3 * hidden_size
        config.head_dim = hidden_size // config.num_attention_heads
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(root)
    return root, sum(p.numel() for p in model.parameters())


def batches(vocab_size: int, batch_size: int, length: int, count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        input_ids = torch.randint(8, vocab_size, (batch_size, length), generator=generator)
        labels = input_ids.clone()
        labels[:, : length // 2] = -100  # the loss on the second half: an "answer"
        out.append(
            {
                "input_ids": input_ids,
                "attention_mask": torch.ones_like(input_ids),
                "labels": labels,
                "loss_tokens_in_step": (labels[:, 1:] != -100).sum(),
            }
        )
    return out


def measure(base: Path, lora_rank: int, data: list[dict[str, torch.Tensor]], warmup: int, root: Path) -> dict:
    seed_everything(0, verbose=False)
    module = CausalLMModule(
        str(base),
        lora_rank=lora_rank,
        optimizer=partial(torch.optim.Adam, lr=1e-3),
        scheduler=partial(WarmupConstantLR, warmup_steps=0),
    )
    timer = StepTimer()
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=len(data),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, DataLoader(data, batch_size=None))
    full_state, weights_only = root / f"r{lora_rank}.ckpt", root / f"r{lora_rank}-weights.ckpt"
    trainer.save_checkpoint(full_state)
    trainer.save_checkpoint(weights_only, weights_only=True)
    return {
        "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "step_s": statistics.median(timer.seconds[warmup:]),
        "ckpt_mb": full_state.stat().st_size / 1e6,
        "weights_mb": weights_only.stat().st_size / 1e6,
    }


def main(
    lora_rank: int = 16,
    layers: int | None = None,
    hidden_size: int | None = None,
    batch_size: int = 4,
    length: int = 256,
    steps: int = 12,
    warmup: int = 2,
) -> None:
    """Measure full fine-tuning and LoRA on the same base and batches, and print them side by side.

    Args:
        lora_rank: Rank of the LoRA run (adapters on every linear layer of the decoder, the module's default).
        layers: Decoder layers of the random base (default: the bundled tiny Llama's 2).
        hidden_size: Hidden size of the random base (intermediate size 3x; default: the bundled 128).
        batch_size: Sequences per step.
        length: Tokens per sequence.
        steps: Optimizer steps per run.
        warmup: First steps left out of the median step time.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, parameters = save_base(root / "base", layers, hidden_size)
        vocab_size = AutoConfig.from_pretrained(base).vocab_size
        data = batches(vocab_size, batch_size, length, steps)
        base_mb = (base / "model.safetensors").stat().st_size / 1e6
        full = measure(base, 0, data, warmup, root)
        lora = measure(base, lora_rank, data, warmup, root)
    shape = f"{steps} steps of {batch_size} x {length} tokens"
    print(f"base: {parameters / 1e6:.2f}M parameters ({base_mb:.1f} MB in fp32); {shape}")
    print(f"{'':28}{'full':>12}{f'LoRA r={lora_rank}':>12}{'LoRA / full':>14}")
    rows = [
        ("trainable parameters", "trainable", "{:,.0f}"),
        ("checkpoint, full state (MB)", "ckpt_mb", "{:.2f}"),
        ("checkpoint, weights (MB)", "weights_mb", "{:.2f}"),
        ("step time (s, median)", "step_s", "{:.3f}"),
    ]
    for label, key, fmt in rows:
        ratio = lora[key] / full[key]
        print(f"{label:28}{fmt.format(full[key]):>12}{fmt.format(lora[key]):>12}{ratio:>13.3f}x")


if __name__ == "__main__":
    auto_cli(main)
