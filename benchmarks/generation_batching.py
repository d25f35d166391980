"""Batched vs one-at-a-time answer generation for SKILL-MIX prompts (issue: evaluation per checkpoint).

The reference implementation generates one prompt at a time. The evaluation callback batches prompts with
left padding and a KV cache, and stops each row at its end-of-turn token. This script times turn-1 answers
for the same 64 SKILL-MIX prompts (k = 2..5, the evaluation's own plan) both ways with the tiny default
model, greedy decoding, the same number of new tokens:

    .venv/bin/python benchmarks/generation_batching.py [--prompts 64] [--batch_size 32] [--max_new_tokens 256]

Not a test: it prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoTokenizer

from datamodules.packaged import TINY_LLAMA
from lightning_modules.hf_model import load_causal_lm
from lightning_modules.skillmix_eval.distributed import batches
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from skillmix.catalog import load_catalog
from skillmix.evaluation.plan import build_plan
from skillmix.splits import make_splits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    # real answer 1s are ~200-330 tokens at k = 2..4 (PAPER.md); short answers understate batching, because
    # the prompt's prefill (real compute, batched or not) then weighs more than the per-token decode steps
    parser.add_argument("--max_new_tokens", type=int, default=256)
    args = parser.parse_args()

    catalog = load_catalog()
    per_k = args.prompts // 4
    plan = build_plan(catalog, make_splits(catalog), ["all"], [2, 3, 4, 5], per_k, 1, seed=0)
    conversations = [[{"role": "user", "content": plan.user_turns(item)[0]}] for item in plan.items]

    torch.manual_seed(0)
    model = load_causal_lm(str(TINY_LLAMA), random_init=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(TINY_LLAMA)
    # greedy, and no stop token, so that both ways produce exactly max_new_tokens per answer
    generator = BatchGenerator(
        model, tokenizer, StudentSampling(temperature=0.0, max_new_tokens=args.max_new_tokens)
    )
    generator.stop_ids = [tokenizer.vocab_size + 1]
    rendered = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations
    ]
    prompt_tokens = [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    print(
        f"{len(conversations)} SKILL-MIX turn-1 prompts (k=2..5), "
        f"{sum(prompt_tokens) / len(prompt_tokens):.0f} prompt tokens on average, "
        f"{args.max_new_tokens} new tokens each, torch threads {torch.get_num_threads()}"
    )

    generator.reply(conversations[:2], seed=0)  # warm-up
    start = time.perf_counter()
    one_by_one = [generator.reply([c], seed=0)[0] for c in conversations]
    sequential = time.perf_counter() - start

    start = time.perf_counter()
    batched_answers = [
        a for batch in batches(conversations, args.batch_size) for a in generator.reply(batch, seed=0)
    ]
    batched = time.perf_counter() - start

    same = sum(a == b for a, b in zip(one_by_one, batched_answers, strict=True))
    print(f"one prompt at a time: {sequential:.2f} s")
    print(f"batched ({args.batch_size} per call): {batched:.2f} s")
    print(
        f"speed-up: {sequential / batched:.1f}x   (identical greedy answers: {same} of {len(conversations)})"
    )


if __name__ == "__main__":
    main()
