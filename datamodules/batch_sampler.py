"""A stateful, rank-aware batch sampler that buckets by length and knows each optimizer step's token count.

Per epoch it (1) shuffles the examples with `seed + epoch`, (2) sorts them by length inside pools of
`bucket_batches` global batches so that a batch holds similar lengths (little padding), (3) cuts them
into micro-batches and groups those into rows of one micro-batch per rank (ranks at a step get similar
lengths, so none waits long for the others), and (4) shuffles the rows. Rank r takes the r-th micro-batch
of every row, so ranks never overlap, together cover every example once, and all get the same number of
micro-batches (a short tail is spread over the last row or two instead of padded with repeats; only
with batch_size 1 do the fewer-than-ranks examples left over sit the epoch out).

Each yielded index is `(example_index, loss_tokens_in_step)`: the second number is the count of target
tokens over the whole accumulation window of every rank (`accumulate_grad_batches` consecutive micro-batches
of each rank, restarting each epoch, the last window possibly shorter), which the dataset passes on to the
batch. Every rank computes the same rows, so it knows the other ranks' batches: the global count needs no
collective, and the training step no host synchronisation.

The state is (epoch, micro-batches yielded this epoch); with `StatefulDataLoader` a restored run continues
mid-epoch with exactly the batches an uninterrupted run would have produced. Each finished pass advances
the epoch (so the order changes every epoch without anyone calling `set_epoch`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

IndexWithStepTokens = tuple[int, int]


class TokenWindowBatchSampler(Sampler[list[IndexWithStepTokens]]):
    def __init__(
        self,
        lengths: Sequence[int],
        num_targets: Sequence[int],
        batch_size: int,
        accumulate_grad_batches: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        bucket_batches: int | None = 32,
        seed: int = 0,
    ) -> None:
        if len(lengths) != len(num_targets):
            raise ValueError("lengths and num_targets must describe the same examples")
        if len(lengths) < num_replicas:
            raise ValueError(
                f"{len(lengths)} examples cannot be shared by {num_replicas} ranks without repeats; "
                "use more data or fewer devices"
            )
        if batch_size < 1 or accumulate_grad_batches < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                "batch_size and accumulate_grad_batches must be >= 1 and 0 <= rank < num_replicas"
            )
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.num_targets = torch.as_tensor(num_targets, dtype=torch.long)
        self.batch_size = batch_size
        self.accumulate_grad_batches = accumulate_grad_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.bucket_batches = bucket_batches
        self.seed = seed
        self.epoch = 0
        self.yielded = 0
        self._resume_at: int | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start the next pass at this epoch; a restored mid-epoch position is kept for its own epoch."""
        if epoch != self.epoch:
            self._resume_at = None
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._row_sizes())

    def _row_sizes(self) -> list[list[int]]:
        """Micro-batch sizes, one row per step and one entry per rank; identical on every rank."""
        ranks = self.num_replicas
        per_row = self.batch_size * ranks
        full_rows, tail = divmod(len(self.lengths), per_row)
        if 0 < tail < ranks:
            if self.batch_size == 1:
                tail = 0  # one example per batch: the < ranks left over sit this epoch out
            else:
                # Too few to give each rank one: spread the last full row and the tail over two rows.
                full_rows, tail = full_rows - 1, tail + per_row
        rows = [[self.batch_size] * ranks for _ in range(full_rows)]
        tail_batches = -(-tail // per_row) * ranks
        sizes = [tail // tail_batches + (i < tail % tail_batches) for i in range(tail_batches)]
        return rows + [sizes[start : start + ranks] for start in range(0, tail_batches, ranks)]

    def _rows(self) -> list[list[list[int]]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = (
            torch.randperm(len(self.lengths), generator=generator)
            if self.shuffle
            else torch.arange(len(self.lengths))
        )
        if self.bucket_batches:
            pool = self.bucket_batches * self.batch_size * self.num_replicas
            order = torch.cat(
                [chunk[torch.argsort(self.lengths[chunk], stable=True)] for chunk in torch.split(order, pool)]
            )
        rows, start = [], 0
        for sizes in self._row_sizes():
            row = []
            for size in sizes:
                row.append(order[start : start + size].tolist())
                start += size
            rows.append(row)
        if self.shuffle:
            rows = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
        return rows

    def __iter__(self) -> Iterator[list[IndexWithStepTokens]]:
        epoch, start = self.epoch, self._resume_at or 0
        self._resume_at = None
        rows = self._rows()
        batches = [row[self.rank] for row in rows]
        window = self.accumulate_grad_batches
        row_tokens = [sum(int(self.num_targets[batch].sum()) for batch in row) for row in rows]
        window_tokens = [sum(row_tokens[first : first + window]) for first in range(0, len(rows), window)]
        for position in range(start, len(batches)):
            if position == len(batches) - 1:
                # The pass is over once its last batch is out. Lightning never asks for the StopIteration
                # after it, nor calls `set_epoch` on a batch sampler, so the next epoch starts here.
                self.epoch, self.yielded = epoch + 1, 0
            else:
                self.yielded = position + 1
            yield [(index, window_tokens[position // window]) for index in batches[position]]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "yielded": self.yielded}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch = state_dict["epoch"]
        self.yielded = state_dict["yielded"]
        self._resume_at = self.yielded
