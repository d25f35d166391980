"""`python cli.py export`: a training checkpoint to a Hugging Face model directory (transformers, vLLM)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch
from torch.distributed.checkpoint import FileSystemReader, TensorStorageMetadata
from torch.distributed.checkpoint import load as dcp_load
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from datamodules.packaged import resolve
from lightning_modules.hf_model import load_config
from lightning_modules.lora import lora_export_model
from skillmix.errors import InputError

log = logging.getLogger(__name__)

_SHARDED_METADATA = "meta.pt"
_MODEL_PREFIX = "model."  # CausalLMModule.model


def export(
    *,
    ckpt_path: str,
    output_dir: str,
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16",
    model_name_or_path: str | None = None,
    lora_format: Literal["merged", "adapter"] = "merged",
) -> Path:
    """Export a checkpoint of `cli.py fit` to a Hugging Face model directory.

    The directory holds the weights (safetensors), config, generation config, tokenizer and chat template:
    `AutoModelForCausalLM.from_pretrained(output_dir)` and `vllm serve output_dir` load it as is.

    Args:
        ckpt_path: A checkpoint written by `cli.py fit`: a single `.ckpt` file, or the folder of a sharded
            FSDP checkpoint (ModelParallelStrategy's default), e.g. `.../checkpoints/last.ckpt`.
        output_dir: Directory to write the model to (created if missing).
        dtype: Data type of the saved weights. Training keeps fp32 master weights; bfloat16 halves the size
            and is the dtype the paper's base models ship in.
        model_name_or_path: Model whose architecture, tokenizer, chat template and generation config go
            with the weights. Default: the one recorded in the checkpoint (`model.model_name_or_path`).
        lora_format: For a LoRA checkpoint: "merged" (default) writes a plain model with the adapters merged
            into the base weights, what vLLM and `evaluate` load; "adapter" writes the adapter alone
            (`adapter_config.json`, `adapter_model.safetensors`) for `PeftModel.from_pretrained(base, DIR)`,
            the base being `model_name_or_path`.
    """
    checkpoint = Path(ckpt_path)
    if not checkpoint.exists():
        raise InputError(
            f"no checkpoint at {checkpoint}. Fix: pass --ckpt_path a `.ckpt` file (or a sharded checkpoint "
            "folder) that `fit` wrote under its checkpoints folder"
        )
    torch_dtype = getattr(torch, dtype)
    hparams, state_dict, datamodule_hparams = read_checkpoint(checkpoint, torch_dtype)
    source = model_name_or_path or hparams.get("model_name_or_path")
    if not source:
        raise InputError(f"{checkpoint} records no `model_name_or_path`; pass --model_name_or_path")
    source = resolve(source)

    if hparams.get("lora_rank") or lora_format != "merged":
        model = lora_export_model(checkpoint, hparams, state_dict, source, lora_format).to(torch_dtype)
    else:
        weights = {name.removeprefix(_MODEL_PREFIX): value for name, value in state_dict.items()}
        config = load_config(source, hparams.get("attn_implementation", "sdpa"))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
        model.load_state_dict(weights, strict=True, assign=True)
    model.tie_weights()
    model.generation_config = _generation_config(source, model.generation_config)

    tokenizer = AutoTokenizer.from_pretrained(source)
    # a chat template given to the datamodule (for tokenizers without one) is what the model was trained on
    if chat_template := datamodule_hparams.get("chat_template"):
        tokenizer.chat_template = chat_template
    if not tokenizer.chat_template:
        log.warning("the tokenizer of %s has no chat template: chat endpoints cannot format prompts", source)

    out = Path(output_dir)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(out)
    _readable_like_the_rest(out)
    log.info("exported %s (%s, %s) to %s", checkpoint, source, dtype, out)
    return out


def _readable_like_the_rest(out: Path) -> None:
    """safetensors writes its files 0600; give them the mode the other files got (from the umask), so that
    a server running as another user can read the whole folder."""
    mode = (out / "tokenizer_config.json").stat().st_mode & 0o777
    for path in out.glob("*.safetensors"):
        path.chmod(mode)


def read_checkpoint(
    path: Path, dtype: torch.dtype | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """Hyperparameters, model weights and datamodule hyperparameters of a Lightning checkpoint.

    Reads only the weights, not the optimizer state (twice their size): from a sharded folder through
    torch.distributed.checkpoint with a template of the model's keys (what Lightning's
    `consolidate_checkpoint` does for the whole checkpoint), from a single file through a memory map.
    Floating-point weights arrive in `dtype` (default: as stored), converted tensor by tensor: the sharded
    reader casts each stored tensor into a template of that dtype as it reads it, so memory holds the
    converted weights plus one stored tensor (26 GB, not 52 + 26, for 13B in bf16).
    """
    if path.is_dir():
        if not (path / _SHARDED_METADATA).is_file():
            raise InputError(f"{path} is a folder without {_SHARDED_METADATA}: not a sharded checkpoint")
        meta = torch.load(path / _SHARDED_METADATA, weights_only=True)
        reader = FileSystemReader(path)
        template: dict[str, torch.Tensor] = {}
        for key, item in reader.read_metadata().state_dict_metadata.items():
            if key.startswith("state_dict.") and isinstance(item, TensorStorageMetadata):
                name = key.removeprefix("state_dict.")
                stored = item.properties.dtype
                template[name] = torch.empty(item.size, dtype=_converted(stored, dtype))
        state = {"state_dict": template}
        dcp_load(state, storage_reader=reader, no_dist=True)
        return meta.get("hyper_parameters", {}), template, meta.get("datamodule_hyper_parameters", {})
    full = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    if "state_dict" not in full:
        raise InputError(f"{path} is not a Lightning checkpoint (no 'state_dict')")
    # mapped, not read: each conversion reads one tensor from the file
    weights = {name: value.to(_converted(value.dtype, dtype)) for name, value in full["state_dict"].items()}
    return full.get("hyper_parameters", {}), weights, full.get("datamodule_hyper_parameters", {})


def checkpoint_step(path: Path) -> int:
    """The `global_step` a Lightning checkpoint was saved at (a file, or a sharded checkpoint folder)."""
    source = path / _SHARDED_METADATA if path.is_dir() else path
    # Lightning's own loader reads the same file the same way; mmap keeps it from reading the weights.
    checkpoint = torch.load(source, map_location="cpu", mmap=not path.is_dir(), weights_only=False)
    if "global_step" not in checkpoint:
        raise InputError(f"{source}: no `global_step` in it; is this a Lightning checkpoint?")
    return int(checkpoint["global_step"])


def _converted(stored: torch.dtype, dtype: torch.dtype | None) -> torch.dtype:
    return dtype if dtype is not None and stored.is_floating_point else stored


def _generation_config(source: str, fallback: GenerationConfig) -> GenerationConfig:
    """The source model's own generation config (sampling defaults, stop tokens) where it ships one."""
    try:
        return GenerationConfig.from_pretrained(source)
    except OSError:
        return fallback
