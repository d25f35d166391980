"""Two CPU processes (gloo) under FSDP2: the logged statistics equal a single process's on the same global
batches, and a sharded fit stopped and resumed with `--ckpt_path last` logs the straight run's losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from tests.training.tiny import logged_steps, small_fit_config
from tests.two_processes import run_cli_on_two_processes

STEPS = 4
# 2 ranks x 2 examples make the same rows of batches as 1 process x 4 (the sampler cuts rows of 4 either way)
TWO_RANKS = ("--data.batch_size", "2", "--trainer.gradient_clip_val", "1.0")
ONE_PROCESS = ("--data.batch_size", "4", "--trainer.gradient_clip_val", "1.0")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    straight = tmp_path_factory.mktemp("straight")
    config = small_fit_config(straight, checkpoint_every=STEPS, max_steps=STEPS)
    run_cli_on_two_processes("fit", "--config", str(config), *TWO_RANKS)

    resumed = tmp_path_factory.mktemp("resumed")
    config = small_fit_config(resumed, checkpoint_every=STEPS // 2, max_steps=STEPS // 2)
    run_cli_on_two_processes("fit", "--config", str(config), *TWO_RANKS)
    resume = ("--trainer.max_steps", str(STEPS), "--ckpt_path", "last")
    run_cli_on_two_processes("fit", "--config", str(config), *TWO_RANKS, *resume)

    single = tmp_path_factory.mktemp("single")
    main(
        [
            "fit",
            "--config",
            str(small_fit_config(single, checkpoint_every=STEPS, max_steps=STEPS)),
            *ONE_PROCESS,
        ]
    )
    return {"straight": straight, "resumed": resumed, "single": single}


def metrics(run: Path, column: str, version: int = 0) -> dict[int, float]:
    return logged_steps(run / f"version_{version}" / "metrics.csv", column)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("column", "rel"), [("train/loss", 1e-5), ("train/grad_norm", 1e-4), ("train/lr", 0)]
)
def test_two_ranks_log_what_one_process_logs_on_the_same_global_batches(runs, column, rel):
    two_ranks, one_process = metrics(runs["straight"], column), metrics(runs["single"], column)
    assert sorted(two_ranks) == list(range(STEPS))
    assert two_ranks == pytest.approx(one_process, rel=rel)


@pytest.mark.slow
def test_sharded_fit_resumed_from_last_logs_the_straight_runs_losses(runs):
    checkpoint = runs["resumed"] / "checkpoints" / "last.ckpt"
    assert checkpoint.is_dir() and (checkpoint / "meta.pt").is_file()  # a sharded checkpoint
    first, second = metrics(runs["resumed"], "train/loss"), metrics(runs["resumed"], "train/loss", version=1)
    assert sorted(first) == [0, 1] and sorted(second) == [2, 3]
    straight = metrics(runs["straight"], "train/loss")
    assert {**first, **second} == pytest.approx(straight, rel=1e-5)
