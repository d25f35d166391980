"""Checkpoints of a tiny run, and the `transformers serve` template serving their exports offline on CPU."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from datamodules import TINY_LLAMA

TRANSFORMERS_SERVE = (
    f"{Path(sys.executable).with_name('transformers')} serve {{model}} --host {{host}} --port {{port}} "
    "--device cpu"
)
"""`transformers serve` pinned to the one exported model (requests name it by its folder)."""


def write_checkpoint(path: Path, step: int, seed: int) -> None:
    """A Lightning checkpoint as `cli.py fit` writes it, for what export and the step reader read: the
    `model.`-prefixed weights of a random tiny LLaMA, its `model_name_or_path` and `global_step`."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(TINY_LLAMA))
    state = {f"model.{name}": value for name, value in model.state_dict().items()}
    hparams = {"model_name_or_path": str(TINY_LLAMA)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "hyper_parameters": hparams, "global_step": step}, path)


def tiny_run(root: Path) -> Path:
    """<root>/checkpoints with two steps (2 and 4, different weights) and last.ckpt, a copy of step 4's."""
    checkpoints = root / "checkpoints"
    write_checkpoint(checkpoints / "step=2.ckpt", step=2, seed=2)
    write_checkpoint(checkpoints / "step=4.ckpt", step=4, seed=4)
    shutil.copy(checkpoints / "step=4.ckpt", checkpoints / "last.ckpt")
    return checkpoints
