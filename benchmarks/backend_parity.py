"""Backend parity: one model, greedy, answered in-process (`hf`) and served by `transformers serve`.

lm-eval-harness users find that HF and vLLM give one model different scores. This measures ours: the same
model folder (by default a random tiny LLaMA saved in `--dtype`, as `cli.py export` writes it) is evaluated
by `cli.py evaluate`'s code twice, greedy, with the same system prompt and the same loopback grader: once
with provider=hf (batched `generate`, left padding) and once as an openai-compatible student behind
`transformers serve` (one request at a time), started by the same `ModelServer` as `--serve`.

    .venv/bin/python benchmarks/backend_parity.py [--dtype bfloat16] [--model DIR] [--max_new_tokens 64]

It prints the share of identical answers (turn 1, turn 2) and each metric's difference per (setting, k).
Offline and on CPU; the grader is the tests' scripted rubric server, so equal answers get equal points.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from datamodules import TINY_LLAMA
from graders.evaluate_command import evaluate
from graders.evaluation_student import REFERENCE_SYSTEM_PROMPT, StudentSettings
from graders.model_server import ModelServer
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from tests.evaluation.rubric_server import RubricServer

SERVE = f"{Path(sys.executable).with_name('transformers')} serve {{model}} --host {{host}} --port {{port}}"
SERVE += " --device cpu"
METRICS = ("full_marks", "all_skills", "skills_fraction")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="a model folder; default: a random tiny LLaMA in --dtype")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--serve", default=SERVE, help="the server's command template (as --serve)")
    parser.add_argument("--combinations_per_k", type=int, default=4)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--hf_batch_size", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, RubricServer() as grader:
        root = Path(scratch)
        model = args.model or str(tiny_model(root / "model", getattr(torch, args.dtype)))
        common = {
            "grader": ClientSettings(
                provider="openai-compatible", model="scripted-grader", base_url=f"{grader.url}/v1"
            ),
            "grading": GradingSettings(rounds=1),
            "settings": ["train", "heldout"],
            "ks": [2, 3, 4, 5],
            "combinations_per_k": args.combinations_per_k,
            "generation_rounds": 1,
            "progress": False,
        }
        sampling = {
            "model": model,
            "temperature": 0.0,
            "max_new_tokens": args.max_new_tokens,
            "system_prompt": REFERENCE_SYSTEM_PROMPT,
            "cache_mode": "off",
        }
        started = time.perf_counter()
        hf = StudentSettings(provider="hf", hf_batch_size=args.hf_batch_size, **sampling)
        evaluate(hf, output_dir=root / "hf", **common)
        hf_seconds = time.perf_counter() - started
        with ModelServer(args.serve, model, root / "serve.log", name="parity server") as server:
            started = time.perf_counter()
            served = StudentSettings(provider="openai-compatible", base_url=server.base_url, **sampling)
            evaluate(served, output_dir=root / "served", **common)
            served_seconds = time.perf_counter() - started
        report(root / "hf" / "step000000", root / "served" / "step000000", hf_seconds, served_seconds)


def tiny_model(folder: Path, dtype: torch.dtype) -> Path:
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(TINY_LLAMA)).to(dtype).save_pretrained(folder)
    AutoTokenizer.from_pretrained(TINY_LLAMA).save_pretrained(folder)
    return folder


def report(hf: Path, served: Path, hf_seconds: float, served_seconds: float) -> None:
    ours, theirs = conversations(hf), conversations(served)
    assert ours.keys() == theirs.keys(), "the two evaluations did not answer the same plan"
    n = len(ours)
    for turn, index in (("turn 1", 2), ("turn 2", 4)):
        same = sum(ours[key][index] == theirs[key][index] for key in ours)
        agree = [common_prefix(ours[key][index], theirs[key][index]) for key in ours]
        share = sum(agree) / max(1, sum(len(ours[key][index]) for key in ours))
        print(f"{turn}: {same}/{n} identical answers ({same / n:.0%}); {share:.0%} of hf's characters agree")
    print(f"hf in-process: {hf_seconds:.1f} s; transformers serve: {served_seconds:.1f} s (after its start)")
    print("| setting | k | " + " | ".join(f"{m} hf / served" for m in METRICS) + " |")
    ours_m, theirs_m = groups(hf), groups(served)
    for key in ours_m:
        cells = [f"{ours_m[key][m]:.3f} / {theirs_m[key][m]:.3f}" for m in METRICS]
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    for metric in METRICS:
        gap = max(abs(ours_m[key][metric] - theirs_m[key][metric]) for key in ours_m)
        print(f"largest |hf - served| {metric}: {gap:.3f}")


def common_prefix(a: str, b: str) -> int:
    """How many leading characters two answers share (where the greedy paths part)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def conversations(step: Path) -> dict[tuple, list[str]]:
    lines = [json.loads(line) for line in (step / "records.jsonl").read_text().splitlines()]
    return {
        (r["setting"], r["k"], r["combination_index"], r["generation_round"]): [
            m["content"] for m in r["messages"]
        ]
        for r in lines
    }


def groups(step: Path) -> dict[tuple, dict[str, float]]:
    metrics = json.loads((step / "metrics.json").read_text())
    return {(g["setting"], g["k"]): g for g in metrics["groups"]}


if __name__ == "__main__":
    main()
