"""Building the Hugging Face causal LM: the one place where weights are loaded."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from datamodules.packaged import TINY_LLAMA_NAME, resolve
from skillmix.errors import InputError

TINY_LLAMA = TINY_LLAMA_NAME
"""Config + tokenizer of the project's 2-layer Llama (no weights): the offline default, built from scratch."""


def load_config(model_name_or_path: str, attn_implementation: str = "sdpa") -> PretrainedConfig:
    """The model's config from a hub id or a local directory, with the attention kernel chosen."""
    config = AutoConfig.from_pretrained(resolve(model_name_or_path))
    config._attn_implementation = attn_implementation
    return config


def load_causal_lm(
    model_name_or_path: str,
    *,
    random_init: bool = False,
    attn_implementation: str = "sdpa",
    dtype: torch.dtype = torch.float32,
    native_dtype: bool = False,
) -> PreTrainedModel:
    """The model with real weights on CPU: pretrained, or freshly initialised from the config.

    fp32 by default, because these are the master weights the optimizer updates (bf16 happens in the
    forward pass). This is the only function that loads weights; how they reach sharded devices is
    `fsdp.py`'s concern. `dtype` bf16 is for a base that nothing updates (LoRA's), at half the host memory.

    Args:
        model_name_or_path: Hub id or local directory (`save_pretrained` layout).
        random_init: Build from `config.json` with fresh random fp32 weights (seeded by the caller) instead
            of loading them; what the offline default does, as its model ships no weights.
        attn_implementation: Attention kernel, e.g. "sdpa" (PyTorch scaled dot-product attention).
        dtype: Data type of the weights.
        native_dtype: Keep pretrained weights in the dtype they are stored in (bf16 for the paper's models):
            half the host memory of fp32 (26 instead of 52 GB for 13B) for a caller that casts them into
            fp32 itself, as loading into FSDP shards does (exactly: bf16 and fp16 widen to fp32 losslessly).
    """
    if random_init:
        config = load_config(model_name_or_path, attn_implementation)
        return AutoModelForCausalLM.from_config(config, dtype=dtype)
    model_name_or_path = resolve(model_name_or_path)
    local = Path(model_name_or_path)
    if local.is_dir() and not any(local.glob("*.safetensors")) and not any(local.glob("*.bin")):
        raise InputError(
            f"{local} holds no weights (*.safetensors / *.bin); set `model.random_init: true` to train this "
            "architecture from randomly initialised weights"
        )
    return AutoModelForCausalLM.from_pretrained(
        model_name_or_path,
        dtype="auto" if native_dtype else dtype,
        attn_implementation=attn_implementation,
    )


def empty_causal_lm(model_name_or_path: str, attn_implementation: str = "sdpa") -> PreTrainedModel:
    """The architecture on the meta device (no memory): the skeleton that FSDP shards before loading."""
    config = load_config(model_name_or_path, attn_implementation)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def decoder_layer_types(model: PreTrainedModel) -> tuple[type[torch.nn.Module], ...]:
    """The repeated block classes (e.g. `LlamaDecoderLayer`): the units of sharding and recompute."""
    names = set(model._no_split_modules or ())
    types = tuple({type(module) for module in model.modules() if type(module).__name__ in names})
    if not types:
        raise InputError(
            f"{type(model).__name__} declares no decoder layer class in `_no_split_modules`; "
            "FSDP sharding and activation checkpointing need one"
        )
    return types
