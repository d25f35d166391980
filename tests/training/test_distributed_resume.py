"""Two CPU processes (gloo) under FSDP2: the logged statistics equal a single process's on the same global
batches, and a sharded fit stopped and resumed with `--ckpt_path last` logs the straight run's losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from lightning.fabric.utilities.load import _load_distributed_checkpoint

from cli import main
from lightning_modules.export import read_checkpoint
from tests.training.tiny import logged_steps, small_fit_config
from tests.two_processes import run_cli_on_two_processes

# three 2-process runs and one single one: under a minute and a half on 2 idle cores, more on loaded ones
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
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
    config = keep_newest_full_checkpoint(
        small_fit_config(resumed, checkpoint_every=STEPS // 2, max_steps=STEPS // 2)
    )
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


def keep_newest_full_checkpoint(config: Path) -> Path:
    """The paper configs' full-state checkpointing: the newest one kept, `last` a link to it."""
    document = yaml.safe_load(config.read_text())
    (checkpoint,) = document["trainer"]["callbacks"]
    checkpoint["init_args"].update(
        filename="full-step{step}", monitor="step", mode="max", save_top_k=1, save_last="link"
    )
    config.write_text(yaml.safe_dump(document))
    return config


def metrics(run: Path, column: str) -> dict[int, float]:
    return logged_steps(run / "version_0" / "metrics.csv", column)


@pytest.mark.parametrize(
    ("column", "rel"), [("train/loss", 1e-5), ("train/grad_norm", 1e-4), ("train/lr", 0)]
)
def test_two_ranks_log_what_one_process_logs_on_the_same_global_batches(runs, column, rel):
    two_ranks, one_process = metrics(runs["straight"], column), metrics(runs["single"], column)
    assert sorted(two_ranks) == list(range(STEPS))
    assert two_ranks == pytest.approx(one_process, rel=rel)


def test_sharded_fit_resumed_from_last_logs_the_straight_runs_losses(runs):
    folder = runs["resumed"] / "version_0" / "checkpoints"
    assert {p.name for p in folder.iterdir()} == {"full-step4.ckpt", "last.ckpt"}  # step 2's was removed
    last = folder / "last.ckpt"
    assert last.is_symlink() and last.resolve() == (folder / "full-step4.ckpt").resolve()
    assert (last / "meta.pt").is_file()  # a sharded checkpoint
    losses = metrics(runs["resumed"], "train/loss")  # the resumed run appends to its own folder's file
    assert sorted(losses) == [0, 1, 2, 3]
    assert losses == pytest.approx(metrics(runs["straight"], "train/loss"), rel=1e-5)


def test_sharded_checkpoint_reads_straight_into_the_export_dtype(runs):
    checkpoint = runs["straight"] / "version_0" / "checkpoints" / f"step{STEPS}.ckpt"
    consolidated = _load_distributed_checkpoint(checkpoint)["state_dict"]
    _, weights, _ = read_checkpoint(checkpoint, torch.bfloat16)
    assert weights.keys() == consolidated.keys()
    for name, tensor in consolidated.items():
        assert weights[name].dtype == torch.bfloat16
        assert torch.equal(weights[name], tensor.to(torch.bfloat16)), name
