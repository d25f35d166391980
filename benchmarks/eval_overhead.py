"""What per-checkpoint SKILL-MIX evaluation costs a training run, by grading mode, side by side in one run.

The offline default `fit` (configs/default.yaml, the tiny Llama on CPU) with an evaluation before training
and at every checkpoint, against a loopback OpenAI-compatible grader that answers after a set latency:

- plain: no evaluation (the baseline);
- inline: every rank waits while rank 0 grades;
- background: rank 0 grades in a worker thread while training goes on; the end of `fit` waits for the rest;
- deferred: the run only generates; `cli.py grade RUN_DIR` grades afterwards (timed apart, off the run).

For each: wall clock, seconds the training loop was blocked (time inside the callback's training hooks:
generation, plus waiting for the grader), of which generation, the rest (training, set-up) and the ratios to
the plain run. Targets: background adds at most generation + the last checkpoint's grading; deferred adds
only generation. With `--repeats 2` the modes run forwards then backwards and each keeps its fastest run,
so a machine shared with other jobs skews them less.

    .venv/bin/python benchmarks/eval_overhead.py                      # 60 steps, checkpoints every 20
    .venv/bin/python benchmarks/eval_overhead.py --latency 1 --max_steps 150 --every 50 --combinations 5

The grader is the tests' scripted rubric server (tests/evaluation/rubric_server.py); nothing leaves
127.0.0.1. Every mode has its own response cache, so each pays for all of its gradings.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jsonargparse import auto_cli  # noqa: E402

import lightning_modules.skillmix_eval.callback as callback_module  # noqa: E402
import lightning_modules.skillmix_eval.evaluation as evaluation_module  # noqa: E402
from cli import main  # noqa: E402
from graders.grade_command import grade  # noqa: E402
from tests.evaluation.conftest import eval_callback, run_config  # noqa: E402
from tests.evaluation.rubric_server import RubricServer  # noqa: E402

MODES = ("plain", "inline", "background", "deferred")
TIMES: dict[str, float] = defaultdict(float)
"""Seconds inside the timed functions, by name, for the run in progress."""


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start

    return wrapper


def instrument() -> None:
    """Time the callback's training hooks (all the time training waits for it) and generation."""
    cls = callback_module.SkillMixEvalCallback
    for hook in ("on_train_start", "on_train_batch_start", "on_train_end"):
        setattr(cls, hook, timed("blocked", getattr(cls, hook)))
    generate = timed("generation", evaluation_module.generate_checkpoint)
    evaluation_module.generate_checkpoint = generate
    callback_module.generate_checkpoint = generate  # type: ignore[attr-defined]


def run_mode(root: Path, mode: str, server: RubricServer, options: dict[str, Any]) -> dict[str, float]:
    root.mkdir()
    TIMES.clear()
    callback = eval_callback(
        server.url,
        root,
        before_training=True,
        on_checkpoint_save=True,
        grading_mode="inline" if mode == "plain" else mode,
        run_name=mode,
        grader={"concurrency": options["concurrency"], "adaptive": False},
        grading={"rounds": 3},
        ks=[2, 3],
        combinations_per_k=options["combinations"],
        generation_rounds=1,
        batch_size=8,
        student={"max_new_tokens": options["max_new_tokens"]},
    )
    config = run_config(root, callback, max_steps=options["max_steps"], checkpoint_every=options["every"])
    if mode == "plain":
        import yaml

        document = yaml.safe_load(config.read_text())
        document["trainer"]["callbacks"] = document["trainer"]["callbacks"][:1]
        config.write_text(yaml.safe_dump(document))
    start = time.perf_counter()
    main(["fit", "--config", str(config)])
    result = {"wall": time.perf_counter() - start, **TIMES}
    if mode == "deferred":
        start = time.perf_counter()
        grade(root)
        result["grade_after"] = time.perf_counter() - start
    return result


def eval_overhead(
    max_steps: int = 60,
    every: int = 20,
    latency: float = 1.0,
    concurrency: int = 4,
    combinations: int = 3,
    max_new_tokens: int = 24,
    repeats: int = 1,
) -> None:
    """Run the four modes one after another and print the table.

    Args:
        max_steps: Training steps of each fit.
        every: Checkpoint (and evaluation) interval in steps; step 0 is evaluated too.
        latency: Seconds the grader takes per request.
        concurrency: Grading requests in flight.
        combinations: Combinations per (setting, k); 2 settings x k=2,3 x 1 round each.
        max_new_tokens: Student answer length per turn.
        repeats: Runs per mode, alternating the order; each mode reports its fastest.
    """
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-loopback")
    os.environ.pop("OPENAI_BASE_URL", None)
    instrument()
    options = dict(
        max_steps=max_steps,
        every=every,
        concurrency=concurrency,
        combinations=combinations,
        max_new_tokens=max_new_tokens,
    )
    evaluations = max_steps // every + 1
    generations = 2 * 2 * combinations
    results: dict[str, dict[str, float]] = {}
    with RubricServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.state.latency = latency
        for repeat in range(repeats):
            for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
                result = run_mode(Path(tmp) / f"{mode}-{repeat}", mode, server, options)
                if mode not in results or result["wall"] < results[mode]["wall"]:
                    results[mode] = result
    plain = results["plain"]["wall"]
    print(
        f"\n{max_steps} steps, {evaluations} evaluations (step 0 and every {every}) of {generations} "
        f"generations, graded 3x in one request each by a grader answering in {latency:g} s, "
        f"{concurrency} in flight"
    )
    print(
        f"{'mode':<11} {'wall s':>8} {'added s':>8} {'x plain':>8} {'blocked s':>10} {'generation s':>13}"
        f" {'rest s':>7} {'grade after s':>14}"
    )
    for mode, result in results.items():
        after = f"{result['grade_after']:.1f}" if "grade_after" in result else "-"
        print(
            f"{mode:<11} {result['wall']:>8.1f} {result['wall'] - plain:>8.1f} {result['wall'] / plain:>8.2f}"
            f" {result.get('blocked', 0.0):>10.1f} {result.get('generation', 0.0):>13.1f}"
            f" {result['wall'] - result.get('blocked', 0.0):>7.1f} {after:>14}"
        )
    per_checkpoint = results["inline"]["blocked"] - results["inline"]["generation"]
    print(
        f"grading per checkpoint (inline): {per_checkpoint / evaluations:.1f} s; targets: background adds "
        f"<= generation + one checkpoint's grading ({results['background']['generation']:.1f} + "
        f"{per_checkpoint / evaluations:.1f} s), deferred adds only generation "
        f"({results['deferred']['generation']:.1f} s)"
    )


if __name__ == "__main__":
    auto_cli(eval_overhead)
