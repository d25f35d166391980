"""FSDP2 sharding, activation checkpointing and loading full weights into a sharded model."""

from __future__ import annotations

from functools import partial

import torch
import torch.distributed as dist
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
    CheckpointImpl,
    apply_activation_checkpointing,
    checkpoint_wrapper,
)
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers import PreTrainedModel

from lightning_modules.hf_model import decoder_layer_types

_WRAPPER_PREFIX = "_checkpoint_wrapped_module."


def checkpoint_decoder_layers(model: PreTrainedModel) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of storing them."""
    layer_types = decoder_layer_types(model)
    apply_activation_checkpointing(
        model,
        checkpoint_wrapper_fn=partial(checkpoint_wrapper, checkpoint_impl=CheckpointImpl.NO_REENTRANT),
        check_fn=lambda module: isinstance(module, layer_types),
    )


def shard_model(model: PreTrainedModel, mesh: DeviceMesh, mp_policy: MixedPrecisionPolicy) -> None:
    """FSDP2 full shard: each decoder layer is a unit gathered just in time; the rest goes with the root."""
    layer_types = decoder_layer_types(model)
    for module in list(model.modules()):
        if isinstance(module, layer_types):
            fully_shard(module, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=True)


def load_from_rank0(sharded: PreTrainedModel, source: PreTrainedModel | None, device: torch.device) -> None:
    """Fill a sharded model that sits on `device` with uninitialised memory from rank 0's full model.

    Only rank 0 holds the full weights (`source`, on CPU; None on the other ranks), so host memory holds one
    copy however many ranks there are. Parameters and persistent buffers travel with the state dict;
    non-persistent buffers (RoPE `inv_freq`) are not in it, so they are broadcast separately: `to_empty`
    left garbage in them.
    """
    is_source = dist.get_rank() == 0
    if is_source != (source is not None):
        raise ValueError("exactly rank 0 must pass the full model")
    full_state = source.state_dict() if source is not None else {}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(sharded, full_state, options=options)

    non_persistent = [_non_persistent_buffers(source) if source is not None else None]
    dist.broadcast_object_list(non_persistent, src=0)
    received = non_persistent[0]
    assert received is not None
    for name, buffer in sharded.named_buffers():
        canonical = name.replace(_WRAPPER_PREFIX, "")
        if canonical in received:
            buffer.copy_(received.pop(canonical).to(device))
    if received:
        raise RuntimeError(f"non-persistent buffers missing from the sharded model: {sorted(received)}")


def _non_persistent_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    persistent = model.state_dict().keys()
    return {name: buffer for name, buffer in model.named_buffers() if name not in persistent}
