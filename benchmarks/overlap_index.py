"""`cli.py overlap` speed: the n-gram index vs comparing each answer with every training text.

    .venv/bin/python benchmarks/overlap_index.py      # ~1 minute on 2 CPU cores (mostly the pairwise side)

Synthetic texts at the paper's scale: D(1)+D(2)+D(3) is ~14,000 two-turn examples, so 28,000 training
answers (~150 words each), and one evaluated checkpoint is 3,600 answers (~100 words; 3 settings x 4 k x 100
combinations x 3 generation rounds). Words are drawn from a Zipf-like vocabulary of 20,000 words; one answer
in ten copies a 20-60 word span from a random training answer, so the memorized spans are known. The index
side runs `TrainingIndex` + `overlap` (longest shared span and 13-gram fraction for every answer); the
pairwise side computes only the 13-gram fraction, with Python sets, for the first `pairwise_answers` answers
against every training answer, and is extrapolated to all of them. Times are CPU seconds
(`time.process_time`), so a busy machine does not change the ratio; wall times are printed too.
"""

from __future__ import annotations

import time

import numpy as np
from jsonargparse import auto_cli

from skillmix.overlap import TrainingIndex, words


def synthesize(count: int, length: int, rng: np.random.Generator, vocabulary: list[str]) -> list[str]:
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    lengths = rng.normal(length, length / 5, count).clip(10).astype(int)
    draws = rng.choice(len(vocabulary), size=int(lengths.sum()), p=weights)
    texts, start = [], 0
    for size in lengths:
        texts.append(" ".join(vocabulary[i] for i in draws[start : start + size]))
        start += size
    return texts


def pairwise_fraction(answer: str, training_sets: list[set[tuple[str, ...]]], n: int) -> float:
    tokens = words(answer)
    grams = {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
    shared: set[tuple[str, ...]] = set()
    for training in training_sets:
        shared |= grams & training
    return len(shared) / max(1, len(grams))


def main(
    training_answers: int = 28_000,
    answers: int = 3_600,
    pairwise_answers: int = 20,
    n: int = 13,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(20_000)]
    training = synthesize(training_answers, 150, rng, vocabulary)
    evaluated = synthesize(answers, 100, rng, vocabulary)
    copied = {}
    for index in range(0, answers, 10):
        source = training[int(rng.integers(len(training)))].split()
        size = int(rng.integers(20, 61))
        start = int(rng.integers(0, max(1, len(source) - size)))
        span = source[start : start + size]
        copied[index] = len(span)
        evaluated[index] = " ".join(["zzcopy", *span, "zzend", *evaluated[index].split()[:30]])
    total_words = sum(len(text.split()) for text in training)
    print(f"{len(training)} training answers ({total_words:,} words), {len(evaluated)} evaluated answers")

    began, cpu = time.perf_counter(), time.process_time()
    index = TrainingIndex(training)
    built = time.perf_counter()
    results = index.overlap(evaluated, n)
    queried, index_cpu = time.perf_counter(), time.process_time() - cpu
    index_wall = queried - began
    found = sum(results[i].longest_shared_words >= size for i, size in copied.items())
    print(
        f"index: build {built - began:.2f} s, {len(evaluated)} answers {queried - built:.2f} s, "
        f"total {index_wall:.2f} s ({index_cpu:.2f} s CPU); "
        f"copied spans found at full length: {found}/{len(copied)}"
    )

    cpu = time.process_time()
    sets = []
    for text in training:
        tokens = words(text)
        sets.append({tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)})
    prepared = time.process_time()
    for answer, result in zip(evaluated[:pairwise_answers], results, strict=False):
        assert abs(pairwise_fraction(answer, sets, n) - (result.shared_ngram_fraction or 0.0)) < 1e-9
    per_answer = (time.process_time() - prepared) / pairwise_answers
    pairwise = prepared - cpu + per_answer * len(evaluated)
    print(
        f"pairwise (fraction only): prepare {prepared - cpu:.2f} s CPU, {per_answer * 1000:.0f} ms CPU per "
        f"answer, {pairwise:.0f} s CPU extrapolated to {len(evaluated)} answers"
    )
    print(
        f"speed-up of the index (CPU time): {pairwise / index_cpu:.0f}x, and it also finds the longest spans"
    )


if __name__ == "__main__":
    auto_cli(main)
