"""The paper's schedule: linear warmup over 64 optimizer steps, then constant 2e-5."""

from __future__ import annotations

import pytest
import torch
from transformers import get_constant_schedule_with_warmup

from lightning_modules.schedules import WarmupConstantLR


def lrs_at(scheduler_factory, steps: list[int], base_lr: float = 2e-5) -> dict[int, float]:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = scheduler_factory(optimizer)
    seen = {}
    for step in range(max(steps) + 1):
        if step in steps:
            seen[step] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    return seen


def test_warmup_then_constant_at_paper_steps():
    seen = lrs_at(lambda opt: WarmupConstantLR(opt, warmup_steps=64), [0, 32, 63, 64, 1000])
    assert seen[0] == 0.0
    assert seen[32] == pytest.approx(1e-5)
    assert seen[63] == pytest.approx(2e-5 * 63 / 64)
    assert seen[64] == pytest.approx(2e-5)
    assert seen[1000] == pytest.approx(2e-5)


def test_matches_transformers_schedule():
    steps = [0, 1, 17, 32, 64, 65, 300]
    ours = lrs_at(lambda opt: WarmupConstantLR(opt, warmup_steps=64), steps)
    theirs = lrs_at(lambda opt: get_constant_schedule_with_warmup(opt, num_warmup_steps=64), steps)
    assert ours == pytest.approx(theirs)


def test_state_dict_restores_position_in_schedule():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    scheduler = WarmupConstantLR(optimizer, warmup_steps=64)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    restored_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    restored = WarmupConstantLR(restored_optimizer, warmup_steps=64)
    restored.load_state_dict(scheduler.state_dict())
    restored_optimizer.step()
    restored.step()
    assert restored_optimizer.param_groups[0]["lr"] == pytest.approx(2e-5 * 11 / 64)


def test_zero_warmup_is_constant_and_negative_is_rejected():
    assert lrs_at(lambda opt: WarmupConstantLR(opt, warmup_steps=0), [0, 5]) == {0: 2e-5, 5: 2e-5}
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupConstantLR(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), warmup_steps=-1)
