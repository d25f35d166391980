"""FSDP2 sharding, activation checkpointing and loading full weights into a sharded model."""

from __future__ import annotations

from collections.abc import Callable
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
from lightning_modules.skillmix_eval.distributed import RankGroup
from skillmix.errors import InputError

_WRAPPER_PREFIX = "_checkpoint_wrapped_module."


def checkpoint_decoder_layers(model: PreTrainedModel, every: int = 1) -> None:
    """Recompute the activations of one decoder layer in `every` (the 1st, the (1 + every)-th, ...) in the
    backward pass instead of storing them; `every=1` checkpoints them all (torchtitan's layer-selective AC).
    """
    if every < 1:
        raise InputError(
            f"model.activation_checkpointing_every is {every}. Fix: 1 (every decoder layer) or more "
            "(one layer in that many), or set model.activation_checkpointing: false"
        )
    layer_types = decoder_layer_types(model)
    layers = [module for module in model.modules() if isinstance(module, layer_types)]
    chosen = {id(layer) for position, layer in enumerate(layers) if position % every == 0}
    apply_activation_checkpointing(
        model,
        checkpoint_wrapper_fn=partial(checkpoint_wrapper, checkpoint_impl=CheckpointImpl.NO_REENTRANT),
        check_fn=lambda module: id(module) in chosen,
    )


def shard_model(model: PreTrainedModel, mesh: DeviceMesh, mp_policy: MixedPrecisionPolicy) -> None:
    """FSDP2 full shard: each decoder layer is a unit gathered just in time; the rest goes with the root."""
    layer_types = decoder_layer_types(model)
    for module in list(model.modules()):
        if isinstance(module, layer_types):
            fully_shard(module, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=True)


def load_on_rank0_first(load: Callable[[], PreTrainedModel], group: RankGroup) -> PreTrainedModel | None:
    """Rank 0's full model (None on the other ranks), loaded before any collective of the training group.

    Rank 0 calls `load` (a first download of a 13B model can take an hour; a gated model without a token
    fails) while the other ranks wait for its word on `group`, a gloo group with a long timeout of its own:
    no NCCL operation is open meanwhile, so neither the training group's timeout nor the NCCL watchdog fires,
    and a failure on rank 0 stops every rank at once with its reason instead of a hang until the timeout.
    """
    model: PreTrainedModel | None = None
    failure: str
    if not group.is_main:
        failure = group.from_main(None)
    else:
        try:
            model = load()
        except Exception as error:
            group.from_main(f"{type(error).__name__}: {error}")
            raise  # rank 0 shows the full error; the others say where to look
        failure = group.from_main("")
    if failure:
        raise RuntimeError(f"rank 0 could not load the model ({failure}); its log has the traceback")
    return model


def load_from_rank0(sharded: PreTrainedModel, source: PreTrainedModel | None, device: torch.device) -> None:
    """Fill a sharded model that sits on `device` with uninitialised memory from rank 0's full model.

    Only rank 0 holds the full weights (`source`, on CPU; None on the other ranks), so host memory holds one
    copy however many ranks there are. `source` may be in its native bf16/fp16: each tensor is broadcast in
    that dtype (half the bytes of fp32) and cast into the fp32 shards, which is exact from bf16 and fp16.
    Parameters and persistent buffers travel with the state dict; non-persistent buffers (RoPE `inv_freq`,
    which transformers keeps in fp32 whatever the weights' dtype) are not in it, so they are broadcast
    separately: `to_empty` left garbage in them.
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
