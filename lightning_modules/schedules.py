"""Learning-rate schedules that configs name as `model.scheduler`."""

from __future__ import annotations

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class WarmupConstantLR(LRScheduler):
    """Linear warmup from 0 to the optimizer's lr over `warmup_steps` optimizer steps, then constant.

    The paper's schedule (64 warmup steps, then 2e-5). The factor at step s is min(1, s / warmup_steps), the
    same convention as `transformers.get_constant_schedule_with_warmup`, so step 0 runs at lr 0 and step
    `warmup_steps` is the first at the full lr. The module steps it once per optimizer step, not per
    micro-batch. Its state (the step count) is saved in checkpoints, so a resumed run continues the schedule.

    Args:
        optimizer: The optimizer whose parameter groups' lr are scheduled.
        warmup_steps: Optimizer steps of linear warmup (0 = constant from the start).
        last_epoch: Index of the last step taken; -1 starts fresh (the `LRScheduler` convention).
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 64, last_epoch: int = -1) -> None:
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, last_epoch)

    def lr_factor(self, step: int) -> float:
        """Multiplier on the base lr at optimizer step `step`."""
        if step >= self.warmup_steps:
            return 1.0
        return step / self.warmup_steps

    def get_lr(self) -> list[float | Tensor]:
        factor = self.lr_factor(self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]
