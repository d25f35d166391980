"""The batch sampler: accumulation windows and their token counts, sharding over ranks, exact resume."""

from __future__ import annotations

import random

import pytest
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from datamodules.batch_sampler import TokenWindowBatchSampler
from datamodules.collate import PaddingCollator


def random_lengths(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    lengths = [rng.randint(20, 1024) for _ in range(n)]
    return lengths, [length // 3 for length in lengths]


def epoch_batches(sampler: TokenWindowBatchSampler, epoch: int = 0) -> list[list[tuple[int, int]]]:
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize(("n", "batch_size", "accumulate"), [(103, 4, 3), (96, 8, 4), (10, 3, 2)])
def test_step_tokens_are_the_sum_over_each_accumulation_window(n, batch_size, accumulate):
    lengths, targets = random_lengths(n)
    sampler = TokenWindowBatchSampler(
        lengths, targets, batch_size, accumulate_grad_batches=accumulate, seed=3
    )
    batches = epoch_batches(sampler)
    assert len(batches) == len(sampler) == -(-n // batch_size)
    windows = [batches[start : start + accumulate] for start in range(0, len(batches), accumulate)]
    assert len(windows[-1]) == (len(batches) - 1) % accumulate + 1  # the last window may be shorter
    for window in windows:
        expected = sum(targets[index] for batch in window for index, _ in batch)
        assert {step_tokens for batch in window for _, step_tokens in batch} == {expected}
    assert sorted(index for batch in batches for index, _ in batch) == list(range(n))


def test_batches_group_similar_lengths_and_epochs_reshuffle():
    lengths, targets = random_lengths(512)
    bucketed = TokenWindowBatchSampler(lengths, targets, batch_size=8, bucket_batches=16, seed=0)
    plain = TokenWindowBatchSampler(lengths, targets, batch_size=8, bucket_batches=None, seed=0)

    def padding(batches):
        return sum(max(lengths[i] for i, _ in b) * len(b) - sum(lengths[i] for i, _ in b) for b in batches)

    assert padding(epoch_batches(bucketed)) < 0.1 * padding(epoch_batches(plain))
    assert epoch_batches(bucketed, 0) == epoch_batches(bucketed, 0)
    assert epoch_batches(bucketed, 0) != epoch_batches(bucketed, 1)


@pytest.mark.parametrize(("n", "batch_size"), [(101, 4), (9, 4), (64, 8), (5, 2), (11, 1)])
def test_two_ranks_split_the_data_without_overlap_and_in_equal_steps(n, batch_size):
    lengths, targets = random_lengths(n)
    ranks = [
        TokenWindowBatchSampler(lengths, targets, batch_size, 2, num_replicas=2, rank=rank, seed=5)
        for rank in (0, 1)
    ]
    per_rank = [[sorted(i for i, _ in batch) for batch in epoch_batches(sampler, 1)] for sampler in ranks]
    assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0])
    assert all(batch for batches in per_rank for batch in batches)  # no empty micro-batch
    assert all(len(batch) <= batch_size for batches in per_rank for batch in batches)
    seen = [index for batches in per_rank for batch in batches for index in batch]
    assert len(seen) == len(set(seen))
    expected_skipped = n % 2 if batch_size == 1 else 0  # one example per batch: the odd one sits out
    assert len(seen) == n - expected_skipped


def test_too_few_examples_for_the_ranks_is_an_error():
    with pytest.raises(ValueError, match="ranks"):
        TokenWindowBatchSampler([5], [2], batch_size=2, num_replicas=2, rank=0)


def make_loader(lengths: list[int], targets: list[int], num_workers: int = 0) -> StatefulDataLoader:
    examples = [
        {"input_ids": list(range(length)), "labels": [-100] * (length - target) + list(range(target))}
        for length, target in zip(lengths, targets, strict=True)
    ]

    class Examples(torch.utils.data.Dataset):
        def __len__(self):
            return len(examples)

        def __getitem__(self, key):
            index, step_tokens = key
            return examples[index] | {"loss_tokens_in_step": step_tokens}

    sampler = TokenWindowBatchSampler(lengths, targets, batch_size=4, accumulate_grad_batches=3, seed=11)
    return StatefulDataLoader(
        Examples(), batch_sampler=sampler, collate_fn=PaddingCollator(pad_token_id=0), num_workers=num_workers
    )


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_epoch_continues_with_the_same_batches(num_workers):
    lengths, targets = random_lengths(90)
    uninterrupted = []
    loader = make_loader(lengths, targets, num_workers)
    for epoch in (0, 1):
        loader.batch_sampler.set_epoch(epoch)
        uninterrupted += list(loader)
    per_epoch = len(uninterrupted) // 2

    stop_after = per_epoch + 4  # mid-epoch 1, mid-way through an accumulation window
    loader = make_loader(lengths, targets, num_workers)
    seen = 0
    for epoch in (0, 1):
        loader.batch_sampler.set_epoch(epoch)
        for _ in loader:
            seen += 1
            if seen == stop_after:
                break
        if seen == stop_after:
            break
    state = loader.state_dict()

    resumed = make_loader(lengths, targets, num_workers)
    resumed.load_state_dict(state)
    resumed.batch_sampler.set_epoch(1)  # what Lightning does at the start of the restored epoch
    rest = list(resumed)
    assert len(rest) == 2 * per_epoch - stop_after
    for got, want in zip(rest, uninterrupted[stop_after:], strict=True):
        assert torch.equal(got["input_ids"], want["input_ids"])
        assert torch.equal(got["loss_tokens_in_step"], want["loss_tokens_in_step"])


@pytest.mark.parametrize(("n", "batch_size", "accumulate"), [(101, 4, 2), (64, 8, 3), (9, 2, 1)])
def test_step_tokens_count_every_ranks_window_so_no_collective_is_needed(n, batch_size, accumulate):
    lengths, targets = random_lengths(n)
    samplers = [
        TokenWindowBatchSampler(lengths, targets, batch_size, accumulate, num_replicas=3, rank=rank, seed=2)
        for rank in range(3)
    ]
    per_rank = [epoch_batches(sampler) for sampler in samplers]
    steps = len(per_rank[0])
    for first in range(0, steps, accumulate):
        window = [batch for batches in per_rank for batch in batches[first : first + accumulate]]
        expected = sum(targets[index] for batch in window for index, _ in batch)
        assert {step_tokens for batch in window for _, step_tokens in batch} == {expected}
