"""Two CPU processes (gloo) under ModelParallelStrategy/FSDP2: fit, sharded checkpoint, export."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.load import _load_distributed_checkpoint
from safetensors.torch import load_file
from torch.distributed.checkpoint import FileSystemReader
from transformers import AutoModelForCausalLM

from cli import main
from datamodules.packaged import SAMPLE_DATA
from tests.training.tiny import logged_steps, small_fit_config
from tests.two_processes import run_cli_on_two_processes


def whole_sample_in_one_step(root: Path, examples: int = 8) -> Path:
    """The first bundled examples as one training file: with a global batch of all of them, every step sees
    the same data however it is split over ranks, so losses can be compared across world sizes."""
    lines = SAMPLE_DATA.read_text(encoding="utf-8").splitlines()[:examples]
    path = root / "eight.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_two_process_fsdp2_fit_matches_one_process_and_writes_a_sharded_checkpoint_that_exports(
    tmp_path: Path,
):
    data = whole_sample_in_one_step(tmp_path)
    common = ("--model.activation_checkpointing", "true", "--trainer.gradient_clip_val", "1.0",
              "--data.train_files", f"[{data}]")  # fmt: skip
    config = small_fit_config(tmp_path, checkpoint_every=3, max_steps=3)
    run_cli_on_two_processes("fit", "--config", str(config), *common, "--data.batch_size", "4")
    single = tmp_path / "single"
    single.mkdir()
    main(["fit", "--config", str(small_fit_config(single, 3, 3)), *common, "--data.batch_size", "8"])

    losses = logged_steps(tmp_path / "version_0" / "metrics.csv", "train/loss")
    assert sorted(losses) == [0, 1, 2] and all(math.isfinite(v) for v in losses.values())
    alone = logged_steps(single / "version_0" / "metrics.csv", "train/loss")
    assert alone[2] < alone[0]  # it learns, and the sharded run follows the same trajectory
    for step, loss in alone.items():
        assert losses[step] == pytest.approx(loss, rel=1e-4, abs=1e-4)
    checkpoint = tmp_path / "version_0" / "checkpoints" / "step3.ckpt"
    assert checkpoint.is_dir()
    assert {"__0_0.distcp", "__1_0.distcp", "meta.pt"} <= {p.name for p in checkpoint.iterdir()}

    exported = tmp_path / "hf"
    main(["export", "--ckpt_path", str(checkpoint), "--output_dir", str(exported), "--dtype", "float32"])
    weights = load_file(exported / "model.safetensors")
    consolidated = _load_distributed_checkpoint(checkpoint)["state_dict"]
    assert weights.keys() == {name.removeprefix("model.") for name in consolidated}
    for name, tensor in consolidated.items():
        torch.testing.assert_close(weights[name.removeprefix("model.")], tensor, rtol=0, atol=0)
    model = AutoModelForCausalLM.from_pretrained(exported)
    logits = model(input_ids=torch.tensor([[1, 5, 9, 13]])).logits
    assert logits.shape == (1, 4, model.config.vocab_size) and torch.isfinite(logits).all()


@pytest.mark.slow
def test_two_process_fsdp2_lora_fit_shards_the_adapters_and_checkpoints_only_them(
    tmp_path: Path, pretrained_tiny_dir: Path
):
    config = small_fit_config(tmp_path, checkpoint_every=3, max_steps=3)
    run_cli_on_two_processes(
        "fit", "--config", str(config),
        "--model.model_name_or_path", str(pretrained_tiny_dir), "--model.random_init", "false",
        "--model.lora_rank", "4", "--model.activation_checkpointing", "true",
    )  # fmt: skip

    losses = logged_steps(tmp_path / "version_0" / "metrics.csv", "train/loss")
    assert sorted(losses) == [0, 1, 2] and all(math.isfinite(v) for v in losses.values())
    checkpoint = tmp_path / "version_0" / "checkpoints" / "step3.ckpt"
    saved = FileSystemReader(checkpoint).read_metadata().state_dict_metadata
    weights = {
        key.removeprefix("state_dict."): item for key, item in saved.items() if key.startswith("state_dict.")
    }
    assert len(weights) == 2 * 7 * 2 and all(".lora_A." in k or ".lora_B." in k for k in weights)
    # each adapter was sharded with its layer: one piece per rank
    assert all(len(item.chunks) == 2 for item in weights.values())
    moments = [key for key in saved if key.startswith("optimizer_0.state.") and key.endswith(".exp_avg")]
    assert len(moments) == len(weights)

    exported = tmp_path / "hf"
    main(["export", "--ckpt_path", str(checkpoint), "--output_dir", str(exported), "--dtype", "float32"])
    merged = load_file(exported / "model.safetensors")
    base = load_file(pretrained_tiny_dir / "model.safetensors")
    assert merged.keys() == base.keys()
    changed = [name for name in base if not torch.equal(merged[name], base[name])]
    assert changed and all(name.endswith("proj.weight") for name in changed)
