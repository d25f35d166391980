"""Spreading generation over ranks, collecting it on rank 0, and waiting for rank 0's grading.

Work is cut into fixed batches (the same whatever the world size) and batch b goes to rank b % world_size;
ranks take their batches in lockstep rounds, so that a sharded (FSDP) model, whose every forward pass is a
collective, sees every rank call `generate` the same number of times: a rank with no batch left in a round
generates a one-prompt stand-in and discards it.

Grading runs on rank 0 only and can take hours (API rate limits). The other ranks wait for its result in a
`broadcast_object_list` on a separate gloo group created with a long timeout (`wait_timeout`), not on the
training process group: a blocking CPU collective on its own group holds no NCCL operation open, so neither
the default group's timeout nor the NCCL watchdog fires while rank 0 grades.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, TypeVar

import torch.distributed as dist

T = TypeVar("T")


def batches(items: list[T], batch_size: int) -> list[list[T]]:
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


def lockstep_rounds(num_batches: int, world_size: int, rank: int) -> list[int | None]:
    """For each round, the index of the batch this rank generates, or None where it only keeps step."""
    rounds = math.ceil(num_batches / world_size)
    return [r * world_size + rank if r * world_size + rank < num_batches else None for r in range(rounds)]


class RankGroup:
    """Collectives of the evaluation, on a gloo group of their own; trivial in a single process."""

    def __init__(self, wait_timeout: timedelta) -> None:
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        # every rank must create the group, at the same point: the callback does it in `setup`
        self.group = dist.new_group(backend="gloo", timeout=wait_timeout) if self.distributed else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather_to_main(self, value: T) -> list[T] | None:
        """Every rank's `value`, in rank order, on rank 0; None elsewhere."""
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.world_size if self.is_main else []
        dist.gather_object(value, gathered if self.is_main else None, dst=0, group=self.group)
        return gathered if self.is_main else None

    def from_main(self, value: T | None) -> T:
        """Rank 0's `value` on every rank (the others pass None and block until rank 0 sends)."""
        if not self.distributed:
            assert value is not None
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]
