"""FSDP2 sharding and rank-0 weight loading, on two CPU processes (gloo)."""

from __future__ import annotations

import socket
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy
from torch.distributed.tensor import DTensor

from lightning_modules.fsdp import (
    checkpoint_decoder_layers,
    load_from_rank0,
    load_on_rank0_first,
    shard_model,
)
from lightning_modules.hf_model import empty_causal_lm, load_causal_lm
from lightning_modules.skillmix_eval.distributed import RankGroup
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


def unreachable_model() -> torch.nn.Module:
    raise OSError("gated-org/model needs a token: set HF_TOKEN")


def load_bf16_source_first(rank: int, world_size: int, port: int, bf16_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        group = RankGroup(timedelta(seconds=60))
        source = load_on_rank0_first(partial(load_causal_lm, bf16_dir, native_dtype=True), group)
        assert (source is not None) == (rank == 0)
        if source is not None:
            assert source.dtype == torch.bfloat16  # as stored: half the host memory of fp32
        sharded = empty_causal_lm(bf16_dir)
        shard_model(sharded, init_device_mesh("cpu", (world_size,)), MixedPrecisionPolicy())
        sharded.to_empty(device=torch.device("cpu"))
        load_from_rank0(sharded, source, torch.device("cpu"))

        fp32 = load_causal_lm(bf16_dir)  # the same file read straight into fp32
        for name, value in sharded.state_dict().items():
            full = value.full_tensor() if isinstance(value, DTensor) else value
            assert full.dtype == torch.float32
            assert torch.equal(full, fp32.state_dict()[name]), name  # bit for bit
        assert torch.equal(sharded.model.rotary_emb.inv_freq, fp32.model.rotary_emb.inv_freq)

        # a failure on rank 0 reaches every rank at once, with its reason, instead of a hang
        expected = OSError if rank == 0 else RuntimeError
        with pytest.raises(expected, match="needs a token"):
            load_on_rank0_first(unreachable_model, group)
    finally:
        dist.destroy_process_group()


def test_rank0_loads_first_in_the_stored_dtype_and_bf16_lands_exactly_in_fp32_shards(
    tiny_model_dir: Path, tmp_path: Path
):
    torch.manual_seed(1)
    load_causal_lm(str(tiny_model_dir), random_init=True).to(torch.bfloat16).save_pretrained(tmp_path)
    mp.spawn(load_bf16_source_first, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
