"""FSDP2 training-step benchmark: tokens/s, MFU and peak memory of the paper's setting (not a test).

    torchrun --nproc_per_node 4 benchmarks/fsdp_step.py --model mistralai/Mistral-7B-Instruct-v0.2

Only the model's config is read (hub id or local directory); weights are random, which does not change the
timing. The model is sharded by the training module's own code (`lightning_modules.fsdp`: per decoder layer,
bf16 parameters, fp32 gradient reduction, fp32 master weights, activation checkpointing) and trained with
Adam on random tokens of `seq_len`, so the number is that of a full 1024-token batch (the upper bound of the
padded-to-longest batches the datamodule makes). On a machine without CUDA it runs on CPU (gloo, fp32) as a
smoke check only.
"""

from __future__ import annotations

import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from jsonargparse import auto_cli
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy

from lightning_modules.fsdp import checkpoint_decoder_layers, shard_model
from lightning_modules.hf_model import TINY_LLAMA, empty_causal_lm


def benchmark(
    model: str = TINY_LLAMA,
    batch_size: int = 8,
    seq_len: int = 1024,
    steps: int = 10,
    warmup: int = 3,
    peak_tflops: float = 989.0,
) -> None:
    """Time FSDP2 optimizer steps and print one JSON line from rank 0.

    Args:
        model: Hub id or local directory whose config.json defines the architecture.
        batch_size: Sequences per GPU per step.
        seq_len: Tokens per sequence.
        steps: Timed optimizer steps.
        warmup: Untimed steps first (allocator, kernels).
        peak_tflops: Dense bf16 peak of one GPU for MFU (H100 SXM 989, A100 312).
    """
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    mesh = init_device_mesh(device.type, (world,))

    network = empty_causal_lm(model)
    checkpoint_decoder_layers(network)
    bf16 = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    shard_model(network, mesh, bf16 if cuda else MixedPrecisionPolicy())
    network.to_empty(device=device)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0.0, 0.02)
    config = network.config
    for module in network.modules():  # RoPE inv_freq is not a parameter: rebuild it from the config
        if type(module).__name__.endswith("RotaryEmbedding"):
            for name, value in type(module)(config).named_buffers():
                module.get_buffer(name).copy_(value)
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-5)
    tokens = torch.randint(0, config.vocab_size, (batch_size, seq_len), device=device)

    def step() -> None:
        logits = network(input_ids=tokens, use_cache=False).logits
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps

    parameters = sum(p.numel() for p in network.parameters())  # DTensors report the full size
    flops_per_token = 6 * parameters + 12 * config.num_hidden_layers * config.hidden_size * seq_len
    tokens_per_s = batch_size * seq_len * world / seconds
    if rank == 0:
        result = {
            "model": model,
            "gpus": world,
            "batch_per_gpu": batch_size,
            "seq_len": seq_len,
            "step_s": round(seconds, 4),
            "tokens_per_s": round(tokens_per_s),
            "mfu": round(flops_per_token * tokens_per_s / world / (peak_tflops * 1e12), 4) if cuda else None,
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
        }
        print(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    auto_cli(benchmark)
