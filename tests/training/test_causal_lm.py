"""CausalLMModule on one CPU process: what it optimises, logs and builds."""

from __future__ import annotations

import copy
import json
import shutil
from functools import partial
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader

from lightning_modules.causal_lm import CausalLMModule
from lightning_modules.schedules import WarmupConstantLR
from skillmix.errors import InputError
from tests.training.tiny import make_batch


def cpu_trainer(**kwargs) -> Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return Trainer(**{**defaults, **kwargs})


def built_module(model_dir: Path, **kwargs) -> CausalLMModule:
    seed_everything(0)
    module = CausalLMModule(str(model_dir), random_init=True, **kwargs)
    module.configure_model()
    return module


class RecordStep(Callback):
    """Keeps the logged metrics and a copy of the gradients of every optimizer step."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer) -> None:
        self.grads.append({n: p.grad.clone() for n, p in pl_module.named_parameters() if p.grad is not None})

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def test_loss_on_a_repeated_batch_falls(tiny_model_dir):
    module = built_module(
        tiny_model_dir,
        optimizer=partial(torch.optim.Adam, lr=1e-2),
        scheduler=partial(WarmupConstantLR, warmup_steps=4),
    )
    batch = make_batch([24, 17], [6, 5], module.model.config.vocab_size, width=24)
    record = RecordStep()
    cpu_trainer(max_steps=25, callbacks=[record]).fit(module, DataLoader([batch] * 25, batch_size=None))
    losses = [m["train/loss"] for m in record.metrics]
    assert len(losses) == 25
    assert losses[-1] < 0.5 * losses[0]
    assert {"train/lr", "train/grad_norm", "train/tokens_per_s", "train/answer_tokens_per_s"} <= set(
        record.metrics[-1]
    )
    assert [m["train/lr"] for m in record.metrics[:5]] == pytest.approx([0, 2.5e-3, 5e-3, 7.5e-3, 1e-2])


def window_of(batches: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Sets each micro-batch's `loss_tokens_in_step` to the window's total, as the datamodule does."""
    total = sum(int(b["loss_tokens_in_step"]) for b in batches)
    return [{**b, "loss_tokens_in_step": torch.tensor(total)} for b in batches]


def test_gradient_is_the_token_mean_over_the_accumulated_global_batch(tiny_model_dir):
    module = built_module(tiny_model_dir, optimizer=partial(torch.optim.SGD, lr=0.0))
    initial = copy.deepcopy(module.model.state_dict())
    vocab = module.model.config.vocab_size
    # uneven: 3 + 2 target tokens in the first micro-batch, 40 in the second
    short = make_batch([6, 5], [3, 3], vocab, width=6, seed=1)
    long = make_batch([30, 26], [8, 6], vocab, width=30, seed=2)
    record = RecordStep()
    trainer = cpu_trainer(max_steps=1, accumulate_grad_batches=2, callbacks=[record])
    trainer.fit(module, DataLoader(window_of([short, long]), batch_size=None))

    reference = built_module(tiny_model_dir)
    reference.model.load_state_dict(initial)
    short_sum, short_n = reference.summed_token_loss(short)
    long_sum, long_n = reference.summed_token_loss(long)
    token_mean = (short_sum + long_sum) / (short_n + long_n)
    token_mean.backward()
    expected = {n: p.grad for n, p in reference.named_parameters()}
    got = record.grads[0]
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-7)
    assert record.metrics[-1]["train/loss"] == pytest.approx(token_mean.item(), rel=1e-5)

    # the mean of per-micro-batch means (what a naive module does) is a different objective here
    naive_module = built_module(tiny_model_dir)
    naive_module.model.load_state_dict(initial)
    (short_sum, short_n), (long_sum, long_n) = map(naive_module.summed_token_loss, (short, long))
    ((short_sum / short_n + long_sum / long_n) / 2).backward()
    naive = naive_module.model.lm_head.weight.grad
    assert not torch.allclose(naive, expected["model.lm_head.weight"], rtol=1e-2)


def test_validation_loss_is_the_token_mean(tiny_model_dir):
    module = built_module(tiny_model_dir)
    vocab = module.model.config.vocab_size
    batches = [make_batch([6, 5], [3, 3], vocab, 6, seed=3), make_batch([30, 26], [8, 6], vocab, 30, seed=4)]
    metrics = cpu_trainer().validate(module, DataLoader(batches, batch_size=None), verbose=False)
    with torch.no_grad():
        sums, counts = zip(*(module.summed_token_loss(b) for b in batches), strict=True)
    assert metrics[0]["val/loss"] == pytest.approx(float(sum(sums) / sum(counts)), rel=1e-5)


def test_activation_checkpointing_gives_the_same_gradients(tiny_model_dir):
    batch = make_batch([20, 14], [5, 4], vocab_size=64, width=20)
    grads = []
    for checkpointing in (False, True):
        module = built_module(tiny_model_dir, activation_checkpointing=checkpointing)
        loss_sum, _ = module.summed_token_loss(batch)
        loss_sum.backward()
        named = module.named_parameters()
        grads.append({n.replace("_checkpoint_wrapped_module.", ""): p.grad for n, p in named})
    assert any("_checkpoint_wrapped_module" in n for n, _ in module.named_modules())
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad)


def test_configure_model_is_idempotent(tiny_model_dir):
    module = built_module(tiny_model_dir)
    model = module.model
    module.configure_model()
    assert module.model is model


def test_directory_without_weights_asks_for_random_init(tiny_model_dir):
    module = CausalLMModule(str(tiny_model_dir))
    with pytest.raises(InputError, match="random_init: true"):
        module.configure_model()


def test_low_precision_master_weights_are_warned_about(tiny_model_dir):
    module = CausalLMModule(str(tiny_model_dir), random_init=True)
    module.trainer = cpu_trainer(precision="bf16-true")
    with pytest.warns(UserWarning, match="Use precision 'bf16-mixed'"):
        module.configure_model()


def test_right_padded_batches_need_no_attention_mask(tiny_model_dir):
    module = built_module(tiny_model_dir)
    batch = make_batch([20, 9, 14], [5, 3, 4], module.model.config.vocab_size, width=20, seed=5)
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        masked = module(batch["input_ids"], batch["attention_mask"])
        unmasked = module(batch["input_ids"], None)
        loss_sum, targets = module.summed_token_loss(batch)
    torch.testing.assert_close(unmasked[real], masked[real], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[~real], masked[~real], atol=1e-3)  # the pads do differ
    predictions = masked[:, :-1].flatten(0, 1)
    expected = torch.nn.functional.cross_entropy(
        predictions, batch["labels"][:, 1:].flatten(), ignore_index=-100, reduction="sum"
    )
    torch.testing.assert_close(loss_sum, expected, rtol=1e-5, atol=1e-5)
    assert targets == batch["loss_tokens_in_step"]


class RecordWeights(Callback):
    """The weights before and after every optimizer step (after clipping, unlike on_before_optimizer_step)."""

    def __init__(self) -> None:
        self.before: list[dict[str, torch.Tensor]] = []
        self.after: list[dict[str, torch.Tensor]] = []

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self.before.append({n: p.detach().clone() for n, p in pl_module.named_parameters()})

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self.after.append({n: p.detach().clone() for n, p in pl_module.named_parameters()})


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_logged_grad_norm_is_the_one_clipping_used(tiny_model_dir, clip):
    module = built_module(
        tiny_model_dir,
        optimizer=partial(torch.optim.SGD, lr=1.0),
        scheduler=partial(WarmupConstantLR, warmup_steps=0),
    )
    initial = copy.deepcopy(module.model.state_dict())
    batch = make_batch([16, 12], [4, 4], module.model.config.vocab_size, width=16, seed=6)
    record, weights = RecordStep(), RecordWeights()
    trainer = cpu_trainer(max_steps=1, gradient_clip_val=clip, callbacks=[record, weights])
    trainer.fit(module, DataLoader([batch], batch_size=None))

    reference = built_module(tiny_model_dir)
    reference.model.load_state_dict(initial)
    loss_sum, targets = reference.summed_token_loss(batch)
    (loss_sum / targets).backward()
    expected_norm = torch.nn.utils.get_total_norm([p.grad for p in reference.parameters()])
    assert record.metrics[-1]["train/grad_norm"] == pytest.approx(float(expected_norm), rel=1e-5)
    # SGD at lr 1 moves the weights by the (clipped) gradient: its norm is the clip value, or the norm itself
    step = [weights.before[0][n] - weights.after[0][n] for n in weights.before[0]]
    moved = float(torch.nn.utils.get_total_norm(step))
    assert moved == pytest.approx(clip if clip is not None else float(expected_norm), rel=1e-3)


def test_activation_checkpointing_every_n_layers_wraps_one_in_n(tiny_model_dir, tmp_path):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    deeper = tmp_path / "four-layers"
    shutil.copytree(tiny_model_dir, deeper)
    (deeper / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 4}))
    batch = make_batch([20, 14], [5, 4], vocab_size=64, width=20)
    grads = []
    for every, wrapped in ((1, [0, 1, 2, 3]), (2, [0, 2]), (3, [0, 3])):
        module = built_module(deeper, activation_checkpointing=True, activation_checkpointing_every=every)
        layers = module.model.model.layers
        checkpointed = [i for i, layer in enumerate(layers) if hasattr(layer, "_checkpoint_wrapped_module")]
        assert checkpointed == wrapped
        loss_sum, _ = module.summed_token_loss(batch)
        loss_sum.backward()
        named = module.named_parameters()
        grads.append({n.replace("_checkpoint_wrapped_module.", ""): p.grad for n, p in named})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad)
        torch.testing.assert_close(grads[2][name], grad)
