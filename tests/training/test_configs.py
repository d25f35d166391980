"""Every shipped config parses, and the paper's configs say what the paper did."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli import main, run_trainer_cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL_CONFIGS = sorted(CONFIGS.rglob("*.yaml"))
FRAGMENTS = {"eval"}  # added after a training config (`--config TRAINING --config FRAGMENT`)
COMMANDS = {"generate": "generate"}  # folder -> the project command the config belongs to
TRAINING_CONFIGS = [p for p in ALL_CONFIGS if p.parent.name not in FRAGMENTS | COMMANDS.keys()]
PAPER_CONFIGS = [p for p in TRAINING_CONFIGS if p.parent != CONFIGS]


def resolved_config(capsys: pytest.CaptureFixture[str], *args: str, command: str = "fit") -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main([command, *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def assert_holds(written: object, resolved: object, where: str = "") -> None:
    """Every value the YAML file sets is the value the parser resolved (nothing dropped or coerced)."""
    if isinstance(written, dict):
        assert isinstance(resolved, dict), where
        for key, value in written.items():
            assert key in resolved, f"{where}.{key} is not in the resolved config"
            assert_holds(value, resolved[key], f"{where}.{key}")
    elif isinstance(written, list) and written and isinstance(written[0], dict):
        assert isinstance(resolved, list) and len(resolved) == len(written), where
        for index, (one, other) in enumerate(zip(written, resolved, strict=True)):
            assert_holds(one, other, f"{where}[{index}]")
    else:
        assert resolved == written, f"{where}: {resolved!r} != {written!r}"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_config_parses(path: Path, capsys: pytest.CaptureFixture[str]):
    folder = path.parent.name
    written = yaml.safe_load(path.read_text())
    if folder in COMMANDS:
        assert_holds(written, resolved_config(capsys, "--config", str(path), command=COMMANDS[folder]))
        return
    if folder in FRAGMENTS and "trainer" not in written:  # an `evaluate` preset; the student comes from argv
        model = ["--student.model", "any-model"]
        assert_holds(written, resolved_config(capsys, "--config", str(path), *model, command="evaluate"))
        return
    base = ["--config", str(CONFIGS / "default.yaml")] if folder in FRAGMENTS else []
    config = resolved_config(capsys, *base, "--config", str(path))
    if folder not in FRAGMENTS:
        assert_holds(written, config)
    assert config["trainer"]["use_distributed_sampler"] is False
    assert config["trainer"]["max_steps"] > 0


def test_fit_without_arguments_is_the_offline_default(capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys)
    assert config["model"]["random_init"] is True
    assert Path(config["model"]["model_name_or_path"]).parts[-2:] == ("assets", "tiny-llama")
    assert config["trainer"]["accelerator"] == "cpu"
    assert config["trainer"]["logger"]["class_path"].endswith("CSVLogger")


def test_a_given_config_replaces_the_default(capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys, "--config", str(PAPER_CONFIGS[0]))
    assert config["model"]["random_init"] is False
    assert config["trainer"]["accelerator"] == "gpu"


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.parent.name)
def test_paper_recipe(path: Path, capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys, "--config", str(path))
    trainer, model, data = config["trainer"], config["model"], config["data"]
    strategy = trainer["strategy"]
    assert strategy["class_path"].endswith("ModelParallelStrategy")
    gpus = trainer["devices"] * trainer["num_nodes"]
    assert strategy["init_args"]["data_parallel_size"] == gpus == 4
    assert strategy["init_args"]["tensor_parallel_size"] == 1
    assert data["batch_size"] * trainer["accumulate_grad_batches"] * gpus == 64
    assert trainer["max_steps"] == 4000
    assert trainer["precision"] == "bf16-mixed"
    assert data["max_length"] == 1024
    assert model["random_init"] is False
    assert model["activation_checkpointing"] is True
    assert model["attn_implementation"] == "sdpa"
    assert model["optimizer"]["class_path"] == "torch.optim.Adam"
    assert model["optimizer"]["init_args"]["lr"] == 2e-5
    assert model["scheduler"]["class_path"] == "lightning_modules.schedules.WarmupConstantLR"
    assert model["scheduler"]["init_args"]["warmup_steps"] == 64
    callbacks = trainer["callbacks"]
    checkpoints = [cb["init_args"] for cb in callbacks if cb["class_path"].endswith("ModelCheckpoint")]
    assert {cb["every_n_train_steps"] for cb in checkpoints} == {500}
    assert any(cb["save_last"] for cb in checkpoints)
    assert f"python cli.py fit --config configs/{path.parent.name}/{path.name}" in path.read_text()


def test_fit_help_documents_the_module_arguments(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        run_trainer_cli(["fit", "--help"])
    help_text = capsys.readouterr().out
    assert "Initialise the weights from the config" in help_text
    assert "--model.activation_checkpointing" in help_text
