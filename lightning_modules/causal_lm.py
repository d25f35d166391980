"""The fine-tuning system: a thin LightningModule around a Hugging Face causal LM."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial

import torch
import torch.distributed as dist
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.enums import GradClipAlgorithmType
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor
from torch.distributed.fsdp import MixedPrecisionPolicy
from torch.distributed.tensor import DTensor
from torchmetrics import MeanMetric
from transformers import PreTrainedModel

from lightning_modules.fsdp import (
    checkpoint_decoder_layers,
    load_from_rank0,
    load_on_rank0_first,
    shard_model,
)
from lightning_modules.hf_model import TINY_LLAMA, empty_causal_lm, load_causal_lm
from lightning_modules.lora import (
    LoraSettings,
    dropout_rng,
    exclude_frozen_base_from_checkpoints,
    frozen_dtype,
    with_adapters,
)
from lightning_modules.schedules import WarmupConstantLR
from lightning_modules.skillmix_eval.distributed import RankGroup
from skillmix.errors import InputError

IGNORE_INDEX = -100


class CausalLMModule(LightningModule):
    """Full or LoRA fine-tuning of a causal LM with the loss on answer tokens, single device or FSDP2."""

    def __init__(
        self,
        model_name_or_path: str = TINY_LLAMA,
        random_init: bool = False,
        attn_implementation: str = "sdpa",
        activation_checkpointing: bool = False,
        lora_rank: int = 0,
        lora_alpha: int | None = None,
        lora_dropout: float = 0.05,
        lora_target_modules: list[str] | str = "all-linear",
        activation_checkpointing_every: int = 1,
        load_timeout_minutes: float = 120.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable = WarmupConstantLR,
    ) -> None:
        """
        Args:
            model_name_or_path: Hugging Face hub id or local directory of the model (and of its tokenizer,
                which is linked to `data.tokenizer`). Default: the project's tiny 2-layer Llama, which ships
                a config but no weights (use it with `random_init: true`).
            random_init: Initialise the weights from the config (seeded by `seed_everything`) instead of
                loading pretrained ones.
            attn_implementation: Attention kernel passed to transformers ("sdpa", "eager", ...).
            activation_checkpointing: Recompute decoder layers' activations in the backward pass
                (saves most activation memory for ~1/3 more compute).
            lora_rank: 0 (default, the paper's recipe): full fine-tuning. > 0: LoRA through `peft`, adapters
                of this rank are the only weights that train; the frozen base stays bf16 under bf16
                precision, and checkpoints hold the adapters and their optimizer state, not the base (except
                with `random_init`, where the base has no other copy). 16 is a common choice (LoRA-vs-full
                studies use 16-256: higher ranks learn more, at little memory).
            lora_alpha: Adapter updates are scaled by alpha / rank. Default: 2 x rank, the scaling of
                Biderman et al. 2024 ("LoRA learns less and forgets less"), so a new rank keeps the step size.
            lora_dropout: Dropout on the adapters' input; 0.05 is QLoRA's value for 7B-13B models (Dettmers
                et al. 2023). Its masks are seeded per step, so a resumed run draws the same ones.
            lora_target_modules: Modules that get adapters: "all-linear" (default: every linear layer of the
                decoder, attention and MLP, not the output head; QLoRA and Biderman et al. found adapting
                attention alone learns markedly less) or names such as [q_proj, v_proj]. LoRA wants a ~10x
                higher learning rate than full fine-tuning: the LoRA configs use 2e-4, the paper 2e-5.
            activation_checkpointing_every: With `activation_checkpointing`, recompute one decoder layer in
                this many (1: every layer, least memory; 2: every other layer, about half the activation
                memory of no checkpointing and half the recompute). The paper configs give the memory plan.
            load_timeout_minutes: Under FSDP, how long ranks 1..N wait for rank 0 to load (or fail to load)
                the pretrained weights, a first download included, before giving up. They wait on a gloo
                group of their own, so the training process group's timeout does not apply.
            optimizer: Optimizer factory, called with the parameters (e.g. `torch.optim.Adam` with `lr`).
            scheduler: LR scheduler factory, called with the optimizer and stepped once per optimizer step.
        """
        super().__init__()
        # The factories are code, not data: keeping them out of the checkpoint lets it load with
        # weights_only=True. The resolved config.yaml that the CLI writes records them.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.model: PreTrainedModel | None = None
        self.lora = LoraSettings.from_hparams(self.hparams)
        if self.lora is not None and not random_init:
            exclude_frozen_base_from_checkpoints(self)
        self.val_loss = MeanMetric()
        self._step_stats: Tensor | None = None
        self._global_targets: Tensor | None = None
        self._last_step_end = 0.0

    def configure_model(self) -> None:
        # Lightning calls this for every fit/validate/test run; build once.
        if self.model is not None:
            return
        # also built without a trainer (load_from_checkpoint, tests)
        precision = str(self._trainer.precision) if self._trainer is not None else None
        if precision in ("bf16-true", "16-true"):
            rank_zero_warn(
                f"precision={precision!r} keeps the master weights in low precision: with Adam at lr 2e-5 "
                "most updates round to zero. Use precision 'bf16-mixed' (fp32 master weights, bf16 compute)."
            )
        hp = self.hparams
        base_dtype = frozen_dtype(precision) if self.lora is not None else torch.float32
        load = partial(
            load_causal_lm,
            hp["model_name_or_path"],
            random_init=hp["random_init"],
            attn_implementation=hp["attn_implementation"],
            dtype=base_dtype,
        )
        mesh = self.device_mesh
        if mesh is None:
            model = with_adapters(load(), self.lora, base_dtype)
            if hp["activation_checkpointing"]:
                checkpoint_decoder_layers(model, hp["activation_checkpointing_every"])
            self.model = model
            return
        if mesh["tensor_parallel"].size() != 1:
            raise InputError(
                "CausalLMModule shards with FSDP only: set `trainer.strategy.data_parallel_size` to the "
                "number of processes (devices x nodes) and `tensor_parallel_size: 1` in ModelParallelStrategy"
            )
        # Only rank 0 loads the full weights (one copy in host memory, in their stored dtype), before any
        # collective of the training group; every rank shards an empty skeleton and rank 0 broadcasts each
        # rank its shards.
        waiting = RankGroup(timedelta(minutes=hp["load_timeout_minutes"]))
        source = load_on_rank0_first(
            lambda: with_adapters(load(native_dtype=True), self.lora, base_dtype), waiting
        )
        model = with_adapters(
            empty_causal_lm(hp["model_name_or_path"], hp["attn_implementation"]), self.lora, base_dtype
        )
        if hp["activation_checkpointing"]:
            checkpoint_decoder_layers(model, hp["activation_checkpointing_every"])
        shard_model(model, mesh["data_parallel"], self._fsdp_mixed_precision())
        device = self.trainer.strategy.root_device
        model.to_empty(device=device)
        load_from_rank0(model, source, device)
        del source
        self.model = model

    def _fsdp_mixed_precision(self) -> MixedPrecisionPolicy:
        """bf16 compute and communication of parameters, fp32 gradient reduction, fp32 master weights."""
        if str(self.trainer.precision) == "bf16-mixed":
            return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        return MixedPrecisionPolicy()

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        assert self.model is not None, "configure_model() builds the model"
        # no KV cache: nothing reuses it, and recomputed (checkpointed) layers would append to it twice
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    def summed_token_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Sum of next-token cross-entropies over the batch's target tokens, and their count."""
        # Batches are right-padded (the batch contract): every pad comes after the real tokens of its row,
        # so under the causal mask no real position attends to one, and pads carry no label. Without a
        # padding mask the logits at real positions are the same, and SDPA runs `is_causal` kernels
        # (FlashAttention, native GQA) instead of a materialised 4-D mask.
        logits = self(batch["input_ids"])
        targets = batch["labels"][:, 1:]
        predictions = logits[:, :-1].flatten(0, 1).float()
        loss_sum = F.cross_entropy(predictions, targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        return loss_sum, (targets != IGNORE_INDEX).sum()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        with dropout_rng(self.lora, self.global_step, batch_idx, self.global_rank, self.device):
            loss_sum, targets = self.summed_token_loss(batch)
        # The loss is the mean over every target token of the global batch (all micro-batches of the step on
        # all ranks), whose count the batch carries. Lightning divides the returned loss by
        # accumulate_grad_batches and FSDP averages gradients over ranks; multiplying by both makes the
        # gradient exactly d(global token mean)/dθ. Nothing here waits for the host or another rank.
        self._global_targets = batch["loss_tokens_in_step"].clamp(min=1)
        scale = self.trainer.world_size * self.trainer.accumulate_grad_batches / self._global_targets
        stats = torch.stack(
            [loss_sum.detach(), batch["attention_mask"].sum().to(loss_sum.dtype), targets.to(loss_sum.dtype)]
        )
        self._step_stats = stats if self._step_stats is None else self._step_stats + stats
        return loss_sum * scale

    def on_train_start(self) -> None:
        self._last_step_end = time.perf_counter()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Runs once per optimizer step, after the whole accumulation window's backward passes: the one
        # reduction of the logged statistics (an all-reduce without Lightning's barrier).
        assert self._step_stats is not None and self._global_targets is not None
        stats, self._step_stats = self._step_stats, None
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
        loss_sum, real_tokens, target_tokens = stats
        # One copy to the host per optimizer step: the progress bar reads the loss after every micro-batch,
        # which for a device tensor would be a synchronisation each time.
        loss, real_tokens, target_tokens = torch.stack(
            [loss_sum / self._global_targets, real_tokens, target_tokens]
        ).cpu()
        now = time.perf_counter()
        elapsed = max(now - self._last_step_end, 1e-9)
        self._last_step_end = now
        self.log("train/loss", loss, prog_bar=True)
        self.log_dict(
            {
                # a host tensor: a Python float would be copied to the device (a synchronisation) to be logged
                "train/lr": torch.tensor(float(optimizer.param_groups[0]["lr"])),
                "train/tokens_per_s": real_tokens / elapsed,
                "train/answer_tokens_per_s": target_tokens / elapsed,
            }
        )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clips as `trainer.gradient_clip_*` say, and logs the gradient norm (before clipping) that the
        clipping computed, instead of computing it a second time. Runs once per optimizer step."""
        assert self.model is not None
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        grads = [p.grad for p in parameters if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
        if isinstance(norm, DTensor):  # sharded gradients: the norm over every rank's shards
            norm = norm.full_tensor()
        if gradient_clip_val and gradient_clip_algorithm in (None, GradClipAlgorithmType.NORM):
            torch.nn.utils.clip_grads_with_norm_(parameters, gradient_clip_val, norm)
        elif gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        self.log("train/grad_norm", norm)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss_sum, targets = self.summed_token_loss(batch)
        if targets > 0:
            self.val_loss.update(loss_sum / targets, weight=targets)
        self.log("val/loss", self.val_loss, prog_bar=True)

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        assert self.model is not None, "configure_model() builds the model"
        optimizer = self.optimizer_factory([p for p in self.model.parameters() if p.requires_grad])
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
