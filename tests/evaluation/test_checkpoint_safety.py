"""Evaluation during `fit` runs after the step's checkpoints are on disk, with the gradients freed, and a
failing evaluation never keeps a checkpoint from being written."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch import LightningModule, Trainer

from cli import main
from lightning_modules.skillmix_eval import SkillMixEvalCallback
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer


def test_evaluations_see_their_checkpoints_written_and_no_gradients(
    tmp_path: Path, fake_key: None, grader: RubricServer, monkeypatch: pytest.MonkeyPatch
):
    seen: list[tuple[int, list[str], bool]] = []

    def spy(self, trainer: Trainer, pl_module: LightningModule, step: int, checkpoint: str | None) -> None:
        files = sorted(p.name for p in (tmp_path / "ckpt").glob("*.ckpt"))
        no_gradients = all(parameter.grad is None for parameter in pl_module.parameters())
        seen.append((step, files, no_gradients))

    monkeypatch.setattr(SkillMixEvalCallback, "evaluate", spy)
    callback = eval_callback(grader.url, tmp_path, before_training=False, on_checkpoint_save=True)
    main(["fit", "--config", str(run_config(tmp_path, callback, max_steps=4, checkpoint_every=2))])
    assert seen == [
        (2, ["last.ckpt", "step2.ckpt"], True),
        (4, ["last.ckpt", "step2.ckpt", "step4.ckpt"], True),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "checkpoints"),
    [("inline", ["last.ckpt", "step2.ckpt"]), ("background", ["last.ckpt", "step2.ckpt", "step4.ckpt"])],
)
def test_a_failing_grader_stops_the_run_only_after_the_checkpoints_are_written(
    tmp_path: Path,
    fake_key: None,
    grader: RubricServer,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    checkpoints: list[str],
):
    """Inline, the run stops at the failed grading; in the background, training finishes first."""
    grader.die_after(0)
    callback = eval_callback(
        grader.url, tmp_path, before_training=False, on_checkpoint_save=True, grading_mode=mode
    )
    with pytest.raises(SystemExit) as stopped:
        main(["fit", "--config", str(run_config(tmp_path, callback, max_steps=4, checkpoint_every=2))])
    assert stopped.value.code == 2
    assert "could not be graded" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == checkpoints
    generations = tmp_path / "skillmix_eval" / "step000002" / "generations.jsonl"
    assert len(generations.read_text().splitlines()) == 8  # generated, left for `fit --ckpt_path last`
