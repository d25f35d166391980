"""`gathered_parameters`: FSDP2 units stay gathered through many forwards, then are resharded as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy
from torch.distributed.tensor import DTensor

from lightning_modules.fsdp import shard_model
from lightning_modules.hf_model import load_causal_lm
from lightning_modules.skillmix_eval.gathered import gathered_parameters
from tests.training.test_fsdp import free_port


def check_gathering(rank: int, world_size: int, port: int, model_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        model = load_causal_lm(model_dir, random_init=True)
        shard_model(model, init_device_mesh("cpu", (world_size,)), MixedPrecisionPolicy())
        layer = model.model.layers[0]
        tokens = torch.randint(3, model.config.vocab_size, (2, 8))
        with torch.no_grad():
            expected = model(input_ids=tokens).logits
            assert isinstance(layer.mlp.up_proj.weight, DTensor)  # resharded after its forward
            with gathered_parameters(model):
                first = model(input_ids=tokens).logits
                assert not isinstance(layer.mlp.up_proj.weight, DTensor)  # still gathered
                second = model(input_ids=tokens).logits
            assert isinstance(layer.mlp.up_proj.weight, DTensor)  # resharded on the way out
            model(input_ids=tokens)
            assert isinstance(layer.mlp.up_proj.weight, DTensor)  # and resharding after forward again
        torch.testing.assert_close(first, expected)
        torch.testing.assert_close(second, expected)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_units_stay_gathered_inside_and_reshard_after_forward_again_outside(tiny_model_dir: Path):
    mp.spawn(check_gathering, args=(2, free_port(), str(tiny_model_dir)), nprocs=2, join=True)
