"""`python cli.py fit` with no config (the offline default) and with configs/lora_tiny.yaml, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from cli import main
from lightning_modules.causal_lm import CausalLMModule
from tests.training.tiny import logged_steps

CLI = Path(__file__).resolve().parents[2] / "cli.py"
LORA_TINY = CLI.parent / "configs" / "lora_tiny.yaml"
LORA_TINY_LOSS_DROP = 0.5


@pytest.mark.slow
def test_default_fit_trains_and_writes_metrics_config_and_checkpoint(tmp_path: Path):
    steps = 50  # the default's checkpoint interval; the full default runs 150
    command = [sys.executable, str(CLI), "fit", "--trainer.max_steps", str(steps)]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]

    out = tmp_path / "runs" / "default"
    losses = logged_steps(out / "version_0" / "metrics.csv", "train/loss")
    assert max(losses) == steps - 1
    assert losses[max(losses)] < losses[min(losses)] - 1.0
    config = yaml.safe_load((out / "version_0" / "config.yaml").read_text())
    assert config["model"]["random_init"] is True
    assert {"last.ckpt", f"step{steps}.ckpt"} <= {
        p.name for p in (out / "version_0" / "checkpoints").iterdir()
    }


@pytest.mark.slow
def test_lora_tiny_trains_only_adapters_and_exports_merged(tmp_path: Path):
    steps = 20  # configs/lora_tiny.yaml, shortened (it runs 150), with a checkpoint at the end
    config = yaml.safe_load(LORA_TINY.read_text())
    config["trainer"].update(max_steps=steps, log_every_n_steps=1, check_val_every_n_epoch=100)
    config["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = steps
    (tmp_path / "lora_tiny.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, str(CLI), "fit", "--config", "lora_tiny.yaml"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]

    out = tmp_path / "runs" / "lora_tiny"
    losses = logged_steps(out / "version_0" / "metrics.csv", "train/loss")
    assert max(losses) == steps - 1
    assert losses[max(losses)] < losses[min(losses)] - LORA_TINY_LOSS_DROP
    checkpoint = out / "version_0" / "checkpoints" / f"step{steps}.ckpt"
    assert {"last.ckpt", checkpoint.name} <= {p.name for p in (out / "version_0" / "checkpoints").iterdir()}
    # a random base has no other copy: it is saved beside the adapters, which are all that trained
    state = torch.load(checkpoint, weights_only=True)
    assert state["hyper_parameters"]["lora_rank"] > 0
    (optimizer,) = state["optimizer_states"]
    adapters = [name for name in state["state_dict"] if ".lora_A." in name or ".lora_B." in name]
    assert len(optimizer["state"]) == len(adapters) == 2 * (2 * 7 + 1) < len(state["state_dict"])

    exported = tmp_path / "hf"
    main(["export", "--ckpt_path", str(checkpoint), "--output_dir", str(exported), "--dtype", "float32"])
    module = CausalLMModule.load_from_checkpoint(checkpoint).eval()
    input_ids = torch.tensor([[1, 57, 912, 13, 400, 7]])
    with torch.no_grad():
        expected = module(input_ids, torch.ones_like(input_ids))
        got = AutoModelForCausalLM.from_pretrained(exported)(input_ids=input_ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
