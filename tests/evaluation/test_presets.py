"""The evaluation presets add the callback to a training config and say what the issue asks of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli import run_trainer_cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def resolved(capsys: pytest.CaptureFixture[str], *configs: Path) -> dict:
    arguments = [part for config in configs for part in ("--config", str(config))]
    with pytest.raises(SystemExit):
        run_trainer_cli(["fit", *arguments, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("training", ["default.yaml", "mistral-7b-instruct-v0.2/skillmix_d123.yaml"])
def test_small_preset_appends_the_callback_to_the_training_config(training, capsys):
    base = resolved(capsys, CONFIGS / training)["trainer"]["callbacks"]
    callbacks = resolved(capsys, CONFIGS / training, CONFIGS / "eval" / "skillmix_small.yaml")["trainer"][
        "callbacks"
    ]
    assert callbacks[: len(base)] == base  # the training config's checkpoints stay
    (evaluation,) = callbacks[len(base) :]
    assert evaluation["class_path"] == "lightning_modules.skillmix_eval.SkillMixEvalCallback"
    init = evaluation["init_args"]
    assert (init["settings"], init["ks"], init["combinations_per_k"]) == (["train", "heldout"], [2, 3], 4)
    assert (init["generation_rounds"], init["grading"]["rounds"]) == (1, 2)


def test_paper_preset_is_the_papers_protocol(capsys):
    config = resolved(capsys, CONFIGS / "default.yaml", CONFIGS / "eval" / "skillmix_paper.yaml")
    init = config["trainer"]["callbacks"][-1]["init_args"]
    assert (init["settings"], init["ks"]) == (["train", "heldout", "all"], [2, 3, 4, 5])
    assert (init["combinations_per_k"], init["generation_rounds"], init["grading"]["rounds"]) == (100, 3, 3)
    assert init["grader"]["model"].startswith("gpt-4") and init["before_training"]


def test_default_config_has_no_evaluation(capsys):
    callbacks = resolved(capsys, CONFIGS / "default.yaml")["trainer"]["callbacks"]
    assert all("skillmix_eval" not in callback["class_path"] for callback in callbacks)
