"""`cli.py fit` end to end on the offline default: checkpoint, resume mid-epoch, export to Hugging Face."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cli import main
from lightning_modules.causal_lm import CausalLMModule
from lightning_modules.schedules import WarmupConstantLR
from tests.training.tiny import logged_steps, small_fit_config

STEPS = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One run straight through STEPS steps, and one stopped at STEPS // 2 and resumed with `last`."""
    straight = tmp_path_factory.mktemp("straight")
    main(["fit", "--config", str(small_fit_config(straight, checkpoint_every=STEPS, max_steps=STEPS))])
    resumed = tmp_path_factory.mktemp("resumed")
    config = str(small_fit_config(resumed, checkpoint_every=STEPS // 2, max_steps=STEPS // 2))
    main(["fit", "--config", config])
    main(["fit", "--config", config, "--trainer.max_steps", str(STEPS), "--ckpt_path", "last"])
    return {"straight": straight, "resumed": resumed}


def test_fit_writes_metrics_resolved_config_and_checkpoints(runs):
    run = runs["resumed"]
    assert (run / "version_0" / "config.yaml").is_file()
    assert (run / "version_0" / "metrics.csv").is_file()
    assert {p.name for p in (run / "version_0" / "checkpoints").iterdir()} == {
        "step2.ckpt",
        "step4.ckpt",
        "last.ckpt",
    }
    checkpoint = torch.load(run / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    # the datamodule tokenized with the model's own tokenizer (linked, not repeated in the config)
    tokenizer = checkpoint["datamodule_hyper_parameters"]["tokenizer"]
    assert tokenizer == checkpoint["hyper_parameters"]["model_name_or_path"]


def test_resume_continues_step_count_lr_schedule_and_data_order(runs):
    # the resumed run goes on in its own folder, appending to its metrics.csv
    assert [path.name for path in runs["resumed"].glob("version_*")] == ["version_0"]
    losses = logged_steps(runs["resumed"] / "version_0" / "metrics.csv", "train/loss")
    assert sorted(losses) == [0, 1, 2, 3]
    # same weights, optimizer state and batches as the uninterrupted run: the same losses
    straight = logged_steps(runs["straight"] / "version_0" / "metrics.csv", "train/loss")
    assert losses == pytest.approx(straight, rel=1e-5)
    lrs = {
        s: lr
        for s, lr in logged_steps(runs["resumed"] / "version_0" / "metrics.csv", "train/lr").items()
        if s >= 2
    }
    schedule = WarmupConstantLR(torch.optim.Adam([torch.zeros(1, requires_grad=True)]), warmup_steps=20)
    assert lrs == pytest.approx({s: 3e-3 * schedule.lr_factor(s) for s in (2, 3)})


def test_export_reloads_with_from_pretrained_and_equal_logits(runs, tmp_path: Path):
    checkpoint = runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt"
    main(["export", "--ckpt_path", str(checkpoint), "--output_dir", str(tmp_path), "--dtype", "float32"])
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"]  # readable by whoever can read the rest
    exported = AutoModelForCausalLM.from_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer.chat_template

    module = CausalLMModule.load_from_checkpoint(checkpoint)
    messages = [{"role": "user", "content": "Write about harbours."}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    batch = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        expected = module(batch["input_ids"], batch["attention_mask"])
        got = exported(**batch).logits
    torch.testing.assert_close(got, expected)
