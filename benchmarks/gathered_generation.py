"""Generation under FSDP2 with the parameters gathered once vs gathered per layer and token (not a test).

    OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 benchmarks/gathered_generation.py --layers 8

Greedy `generate` (synced across ranks, as the evaluation callback runs it) of random prompts on the
random-init model of `model`'s config, sharded by the training module's own code, once inside the
callback's `gathered_parameters` (each layer all-gathered once for the whole generation) and once without
(FSDP2's default: every layer all-gathered before each forward, i.e. for every new token). Prints one JSON
line from rank 0: seconds of each, their ratio, and whether the answers are identical. On CPU it runs on
gloo: the ratio there is that of loopback all-gathers, a lower bound of what a slow interconnect costs.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.distributed as dist
from jsonargparse import auto_cli
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy
from transformers import AutoModelForCausalLM

from lightning_modules.fsdp import shard_model
from lightning_modules.hf_model import TINY_LLAMA, load_config
from lightning_modules.skillmix_eval.gathered import gathered_parameters


def benchmark(
    model: str = TINY_LLAMA,
    layers: int | None = None,
    batch_size: int = 8,
    prompt_len: int = 64,
    new_tokens: int = 64,
    repeats: int = 3,
) -> None:
    """Time greedy generation both ways and print one JSON line from rank 0.

    Args:
        model: Hub id or local directory whose config.json defines the architecture.
        layers: Decoder layers (default: the config's).
        batch_size: Prompts per rank.
        prompt_len: Tokens per prompt.
        new_tokens: Tokens generated per prompt.
        repeats: Timed generations each way (the best is kept); one untimed first.
    """
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    config = load_config(model, "sdpa")
    if layers is not None:
        config.num_hidden_layers = layers
    torch.manual_seed(0)
    network = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # the same weights on each rank
    bf16 = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    shard_model(network, mesh, bf16 if cuda else MixedPrecisionPolicy())
    network.to(device).eval()
    prompts = torch.randint(3, config.vocab_size, (batch_size, prompt_len), device=device)

    def generate(gathered: bool) -> tuple[float, torch.Tensor]:
        scope: AbstractContextManager[None] = gathered_parameters(network) if gathered else nullcontext()
        with torch.no_grad(), scope:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = network.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                synced_gpus=True,
                pad_token_id=0,
            )
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter() - start, out

    times: dict[bool, list[float]] = {True: [], False: []}
    answers = {}
    for gathered in (True, False):
        generate(gathered)
        for _ in range(repeats):
            seconds, answers[gathered] = generate(gathered)
            times[gathered].append(seconds)
    if dist.get_rank() == 0:
        gathered_s, per_layer_s = min(times[True]), min(times[False])
        print(
            json.dumps(
                {
                    "model": model,
                    "layers": config.num_hidden_layers,
                    "ranks": dist.get_world_size(),
                    "backend": dist.get_backend(),
                    "batch_per_rank": batch_size,
                    "prompt_len": prompt_len,
                    "new_tokens": new_tokens,
                    "gathered_s": round(gathered_s, 3),
                    "per_layer_s": round(per_layer_s, 3),
                    "per_layer_over_gathered": round(per_layer_s / gathered_s, 2),
                    "identical_answers": bool(torch.equal(answers[True], answers[False])),
                }
            )
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    auto_cli(benchmark)
