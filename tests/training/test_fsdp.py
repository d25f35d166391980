"""FSDP2 sharding and rank-0 weight loading, on two CPU processes (gloo)."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy
from torch.distributed.tensor import DTensor

from lightning_modules.fsdp import checkpoint_decoder_layers, load_from_rank0, shard_model
from lightning_modules.hf_model import empty_causal_lm, load_causal_lm
from tests.training.tiny import make_batch


def shard_and_compare(rank: int, world_size: int, port: int, model_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        mesh = init_device_mesh("cpu", (world_size,))
        torch.manual_seed(0)
        reference = load_causal_lm(model_dir, random_init=True)  # the same weights on every rank
        sharded = empty_causal_lm(model_dir)
        checkpoint_decoder_layers(sharded)
        shard_model(sharded, mesh, MixedPrecisionPolicy())
        sharded.to_empty(device=torch.device("cpu"))
        load_from_rank0(sharded, reference if rank == 0 else None, torch.device("cpu"))

        layer_weight = sharded.model.layers[0]._checkpoint_wrapped_module.mlp.up_proj.weight
        assert isinstance(layer_weight, DTensor)
        assert layer_weight.to_local().shape[0] == reference.config.intermediate_size // world_size
        torch.testing.assert_close(sharded.model.rotary_emb.inv_freq, reference.model.rotary_emb.inv_freq)
        batch = make_batch([16, 11], [4, 4], reference.config.vocab_size, width=16)
        with torch.no_grad():
            expected = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            got = sharded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        torch.testing.assert_close(got, expected)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rank0_weights_reach_every_shard_and_rope_buffers_are_rebuilt(tiny_model_dir: Path):
    mp.spawn(shard_and_compare, args=(2, free_port(), str(tiny_model_dir)), nprocs=2, join=True)
