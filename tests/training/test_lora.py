"""LoRA (peft) in CausalLMModule: what trains, what checkpoints hold, resume, and both export formats."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import seed_everything
from peft import PeftModel
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM

from cli import main
from lightning_modules.causal_lm import CausalLMModule
from lightning_modules.schedules import WarmupConstantLR
from tests.training.test_causal_lm import RecordStep, cpu_trainer
from tests.training.tiny import logged_steps, make_batch, small_fit_config

RANK = 4
STEPS = 4


def lora_module(model_dir: Path, **kwargs) -> CausalLMModule:
    seed_everything(0)
    module = CausalLMModule(str(model_dir), random_init=True, lora_rank=RANK, lora_dropout=0.0, **kwargs)
    module.configure_model()
    return module


def is_adapter(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def test_only_the_adapters_train_and_the_loss_falls(tiny_model_dir: Path):
    module = lora_module(
        tiny_model_dir,
        optimizer=partial(torch.optim.Adam, lr=3e-2),
        scheduler=partial(WarmupConstantLR, warmup_steps=0),
    )
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(is_adapter(name) for name in trainable)
    # every linear layer of both decoder layers (7 per layer), none outside them
    assert len(trainable) == 2 * 7 * 2 and not any("lm_head" in name for name in trainable)

    batch = make_batch([24, 17], [6, 5], module.model.config.vocab_size, width=24)
    record = RecordStep()
    trainer = cpu_trainer(max_steps=20, callbacks=[record])
    trainer.fit(module, DataLoader([batch] * 20, batch_size=None))

    losses = [m["train/loss"] for m in record.metrics]
    assert losses[-1] < losses[0] - 0.25  # measured: 5.78 -> 5.44
    (optimizer,) = trainer.optimizers
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(trainable)
    for name, parameter in module.named_parameters():
        if is_adapter(name) and ".lora_B." in name:
            assert not torch.equal(parameter, before[name]), name
        elif not is_adapter(name):
            assert torch.equal(parameter, before[name]), name


def test_activation_checkpointing_gives_the_same_adapter_gradients(tiny_model_dir: Path):
    batch = make_batch([20, 14], [5, 4], vocab_size=64, width=20)
    grads = []
    for checkpointing in (False, True):
        module = lora_module(tiny_model_dir, activation_checkpointing=checkpointing)
        # B starts at zero (so the adapters start as a no-op); give it values so that A gets gradients too
        for name, parameter in module.named_parameters():
            if ".lora_B." in name:
                torch.nn.init.normal_(parameter, std=0.02, generator=torch.Generator().manual_seed(1))
        module.summed_token_loss(batch)[0].backward()
        named = module.named_parameters()
        grads.append(
            {n.replace("_checkpoint_wrapped_module.", ""): p.grad for n, p in named if p.requires_grad}
        )
    assert grads[0].keys() == grads[1].keys() and all(g is not None for g in grads[0].values())
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad)


def test_the_frozen_base_is_bf16_under_bf16_precision_and_the_adapters_fp32(tiny_model_dir: Path):
    module = CausalLMModule(str(tiny_model_dir), random_init=True, lora_rank=RANK)
    module.trainer = cpu_trainer(precision="bf16-mixed")
    module.configure_model()
    dtypes = {(p.requires_grad, p.dtype) for p in module.parameters()}
    assert dtypes == {(True, torch.float32), (False, torch.bfloat16)}


def lora_config(root: Path, base: Path, *, checkpoint_every: int, max_steps: int) -> str:
    """The offline default on a saved (pretrained) tiny base, with LoRA."""
    path = small_fit_config(root, checkpoint_every=checkpoint_every, max_steps=max_steps)
    config = yaml.safe_load(path.read_text())
    config["model"].update(model_name_or_path=str(base), random_init=False, lora_rank=RANK)
    config["model"]["optimizer"]["init_args"]["lr"] = 1e-2
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, pretrained_tiny_dir: Path) -> dict[str, Path]:
    """LoRA straight through STEPS steps, and stopped at STEPS // 2 then resumed with `last`."""
    straight = tmp_path_factory.mktemp("lora-straight")
    main(
        [
            "fit",
            "--config",
            lora_config(straight, pretrained_tiny_dir, checkpoint_every=STEPS, max_steps=STEPS),
        ]
    )
    resumed = tmp_path_factory.mktemp("lora-resumed")
    config = lora_config(resumed, pretrained_tiny_dir, checkpoint_every=STEPS // 2, max_steps=STEPS // 2)
    main(["fit", "--config", config])
    main(["fit", "--config", config, "--trainer.max_steps", str(STEPS), "--ckpt_path", "last"])
    return {"straight": straight, "resumed": resumed, "base": pretrained_tiny_dir}


@pytest.mark.slow
def test_checkpoints_hold_the_adapters_and_their_optimizer_state_not_the_base(runs):
    checkpoint = torch.load(runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    weights = checkpoint["state_dict"]
    assert weights and all(is_adapter(name) for name in weights)
    assert len(weights) == 2 * 7 * 2
    (optimizer,) = checkpoint["optimizer_states"]
    assert len(optimizer["state"]) == len(weights)  # Adam moments of every adapter, of nothing else
    assert checkpoint["global_step"] == STEPS
    base_bytes = (runs["base"] / "model.safetensors").stat().st_size
    assert (runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt").stat().st_size < base_bytes / 4


@pytest.mark.slow
def test_resume_equals_the_uninterrupted_run(runs):
    losses = logged_steps(runs["resumed"] / "version_0" / "metrics.csv", "train/loss")
    straight = logged_steps(runs["straight"] / "version_0" / "metrics.csv", "train/loss")
    assert sorted(losses) == [0, 1, 2, 3]
    assert losses == pytest.approx(straight, rel=1e-5)
    assert straight[STEPS - 1] < straight[0]
    resumed_lrs = logged_steps(runs["resumed"] / "version_0" / "metrics.csv", "train/lr")
    lrs = {step: lr for step, lr in resumed_lrs.items() if step >= 2}
    straight_lrs = logged_steps(runs["straight"] / "version_0" / "metrics.csv", "train/lr")
    assert lrs == pytest.approx({s: straight_lrs[s] for s in (2, 3)}) and lrs[3] > lrs[2] > 0
    ours = torch.load(runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)[
        "state_dict"
    ]
    theirs = torch.load(runs["straight"] / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)[
        "state_dict"
    ]
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name], tensor, rtol=1e-5, atol=1e-7)


def module_logits(checkpoint: Path, input_ids: torch.Tensor) -> torch.Tensor:
    module = CausalLMModule.load_from_checkpoint(checkpoint).eval()  # eval: no adapter dropout
    with torch.no_grad():
        return module(input_ids, torch.ones_like(input_ids))


INPUT_IDS = torch.tensor([[1, 57, 912, 13, 400, 7]])


@pytest.mark.slow
def test_merged_export_is_a_plain_model_with_the_trained_modules_logits(runs, tmp_path: Path):
    checkpoint = runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt"
    main(["export", "--ckpt_path", str(checkpoint), "--output_dir", str(tmp_path), "--dtype", "float32"])
    weights = load_file(tmp_path / "model.safetensors")
    base = load_file(runs["base"] / "model.safetensors")
    assert weights.keys() == base.keys()  # plain names: no lora_A/B, no base_layer
    assert not torch.equal(
        weights["model.layers.0.mlp.down_proj.weight"], base["model.layers.0.mlp.down_proj.weight"]
    )
    torch.testing.assert_close(
        weights["model.embed_tokens.weight"], base["model.embed_tokens.weight"], rtol=0, atol=0
    )
    exported = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        got = exported(input_ids=INPUT_IDS).logits
    torch.testing.assert_close(got, module_logits(checkpoint, INPUT_IDS), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_adapter_export_loads_with_peft_on_the_base(runs, tmp_path: Path):
    checkpoint = runs["resumed"] / "version_0" / "checkpoints" / "last.ckpt"
    out = ["--output_dir", str(tmp_path), "--dtype", "float32", "--lora_format", "adapter"]
    main(["export", "--ckpt_path", str(checkpoint), *out])
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert not (tmp_path / "model.safetensors").exists()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(runs["base"]), tmp_path)
    with torch.no_grad():
        got = model(input_ids=INPUT_IDS).logits
        with model.disable_adapter():
            base_logits = model(input_ids=INPUT_IDS).logits
    expected = module_logits(checkpoint, INPUT_IDS)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(base_logits, expected, atol=1e-4)  # the adapters did learn something


def test_adapter_format_of_a_full_fine_tuning_checkpoint_is_refused(tmp_path: Path, capsys):
    from lightning_modules.hf_model import TINY_LLAMA

    path = tmp_path / "full.ckpt"
    torch.save(
        {"state_dict": {}, "hyper_parameters": {"model_name_or_path": TINY_LLAMA, "lora_rank": 0}}, path
    )
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "export",
                "--ckpt_path",
                str(path),
                "--output_dir",
                str(tmp_path / "out"),
                "--lora_format",
                "adapter",
            ]
        )
    assert exit_info.value.code == 2
    assert "not a LoRA checkpoint" in capsys.readouterr().err
