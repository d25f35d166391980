"""LoRA through `peft` for `CausalLMModule`: which weights get adapters, what is trained, saved and exported.

The adapters are injected into the Hugging Face model in place (`peft.inject_adapter_in_model`), so the
module's `model` stays a `PreTrainedModel`: FSDP2 shards each decoder layer with its adapters inside it,
activation checkpointing wraps the same layer classes, and `generate` (the evaluation callback) runs with the
adapters active. Only the adapters train; the frozen base is kept out of checkpoints when it can be read again
from `model_name_or_path`, and `export` merges the adapters into it or writes them alone in peft's format.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from peft import LoraConfig, PeftModel, get_peft_model, inject_adapter_in_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from lightning_modules.hf_model import load_causal_lm, load_config
from skillmix.errors import InputError

_WRAPPER_PREFIX = "_checkpoint_wrapped_module."  # activation checkpointing's wrapper, absent from state dicts
_MODULE_PREFIX = "model."  # CausalLMModule.model, in checkpoint keys


@dataclass(frozen=True)
class LoraSettings:
    """The adapter's shape; `CausalLMModule`'s `lora_*` arguments document each field."""

    rank: int
    alpha: int | None
    dropout: float
    target_modules: list[str] | str

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> LoraSettings | None:
        """The settings of a module's (or a checkpoint's) hyperparameters; None for full fine-tuning."""
        rank = int(hparams.get("lora_rank") or 0)
        if rank < 0:
            raise InputError(f"model.lora_rank is {rank}: use 0 for full fine-tuning or a positive LoRA rank")
        if rank == 0:
            return None
        target = hparams.get("lora_target_modules", "all-linear")
        return cls(
            rank=rank,
            alpha=hparams.get("lora_alpha"),
            dropout=float(hparams.get("lora_dropout", 0.0)),
            target_modules=target if isinstance(target, str) else list(target),
        )

    def peft_config(self, base_model_name_or_path: str | None = None) -> LoraConfig:
        return LoraConfig(
            r=self.rank,
            lora_alpha=2 * self.rank if self.alpha is None else self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            base_model_name_or_path=base_model_name_or_path,
            task_type="CAUSAL_LM",
        )


def frozen_dtype(precision: str | None) -> torch.dtype:
    """The dtype of the frozen base: bf16 under bf16 precision (nothing updates it, so no update can round
    away, and it halves the memory of the largest part of a LoRA run), fp32 otherwise."""
    return torch.bfloat16 if precision is not None and precision.startswith("bf16") else torch.float32


def with_adapters(
    model: PreTrainedModel, settings: LoraSettings | None, base_dtype: torch.dtype
) -> PreTrainedModel:
    """`model` with LoRA adapters on the target modules, only they trainable (fp32 master weights), and the
    frozen base in `base_dtype`. Works on the meta device (the skeleton FSDP shards). None: `model` as is."""
    if settings is None:
        return model
    meta = next(model.parameters()).is_meta
    inject_adapter_in_model(settings.peft_config(), model, low_cpu_mem_usage=meta)
    for parameter in model.parameters():
        parameter.data = parameter.data.to(torch.float32 if parameter.requires_grad else base_dtype)
    return model


@contextmanager
def dropout_rng(
    settings: LoraSettings | None, step: int, batch_idx: int, rank: int, device: torch.device
) -> Iterator[None]:
    """The adapters' dropout masks drawn from an RNG seeded by (seed, step, batch, rank), not the global one.

    A resumed run then draws the same masks as an uninterrupted one (the global RNG is not in checkpoints,
    and a new data-loader iterator after a resume draws from it), on any number of ranks. Activation
    checkpointing replays the state it saw in the forward pass, so recomputed layers get the same masks.
    """
    if settings is None or settings.dropout == 0:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(hash((int(os.environ.get("PL_GLOBAL_SEED", 0)), step, batch_idx, rank)) % 2**63)
        yield


def exclude_frozen_base_from_checkpoints(module: torch.nn.Module) -> None:
    """Make `module.state_dict()` hold only the trainable weights, and `load_state_dict` accept that.

    Lightning saves `state_dict()` on one device and under ModelParallelStrategy alike (there through
    `get_model_state_dict`, which calls it), so checkpoints hold the adapters and, beside them in the
    checkpoint, their optimizer state; the frozen base is loaded again from `model_name_or_path` by
    `configure_model` before Lightning restores a checkpoint.
    """

    def frozen_names(prefix: str) -> set[str]:
        # remove_duplicate=False: a tied output head (SmolLM2's) is frozen under its own name too
        names = (name for name, p in module.named_parameters(remove_duplicate=False) if not p.requires_grad)
        return {prefix + name.replace(_WRAPPER_PREFIX, "") for name in names}

    def drop_frozen(
        _module: torch.nn.Module, state_dict: dict[str, Any], prefix: str, _metadata: Any
    ) -> None:
        for name in frozen_names(prefix):
            state_dict.pop(name, None)

    def allow_missing_frozen(_module: torch.nn.Module, incompatible: Any) -> None:
        frozen = frozen_names("")
        incompatible.missing_keys[:] = [key for key in incompatible.missing_keys if key not in frozen]

    module.register_state_dict_post_hook(drop_frozen)
    module.register_load_state_dict_post_hook(allow_missing_frozen)


def lora_export_model(
    checkpoint: Path,
    hparams: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    source: str,
    lora_format: Literal["merged", "adapter"],
) -> PreTrainedModel | PeftModel:
    """What `export` saves of a LoRA checkpoint: the model with its adapters merged (in fp32), or the
    `PeftModel` whose `save_pretrained` writes the adapter alone, in peft's format."""
    settings = LoraSettings.from_hparams(hparams)
    if settings is None:
        raise InputError(
            f"{checkpoint} is not a LoRA checkpoint (lora_rank 0): drop --lora_format {lora_format}"
        )
    if lora_format == "adapter" and hparams.get("random_init"):
        raise InputError(
            f"{checkpoint} adapts a randomly initialised base that exists only in the checkpoint: "
            "export it merged (drop --lora_format adapter)"
        )
    weights = {name.removeprefix(_MODULE_PREFIX): value.float() for name, value in state_dict.items()}
    lora_model = lora_model_of_checkpoint(
        weights, settings, source, hparams.get("attn_implementation", "sdpa")
    )
    return lora_model if lora_format == "adapter" else lora_model.merge_and_unload()


def lora_model_of_checkpoint(
    weights: dict[str, torch.Tensor], settings: LoraSettings, source: str, attn_implementation: str
) -> PeftModel:
    """The trained LoRA model of a checkpoint's weights (names as in the module's `model`), in fp32.

    The frozen base comes from the checkpoint when it is there (a randomly initialised base has no other
    copy), otherwise from `source` (the pretrained model that training started from).
    """
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(
            load_config(source, attn_implementation), dtype=torch.float32
        )
    peft_model = get_peft_model(skeleton, settings.peft_config(source), low_cpu_mem_usage=True)
    inner = peft_model.get_base_model()  # the Hugging Face model, adapters injected: the module's names
    trainable = {name for name, p in inner.named_parameters() if p.requires_grad}
    frozen = inner.state_dict().keys() - trainable
    if missing := sorted(trainable - weights.keys()):
        raise InputError(
            f"the checkpoint lacks LoRA weights {missing[:3]}...: was it trained with these lora_* settings?"
        )
    if frozen <= weights.keys():
        inner.load_state_dict(weights, strict=True, assign=True)
        return peft_model
    base = load_causal_lm(source, attn_implementation=attn_implementation)
    peft_model = get_peft_model(base, settings.peft_config(source))
    result = peft_model.get_base_model().load_state_dict(weights, strict=False)
    if result.unexpected_keys:
        raise InputError(
            f"the checkpoint's weights {result.unexpected_keys[:3]}... are not in {source} with LoRA"
        )
    return peft_model
