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
RECIPES = [p for p in TRAINING_CONFIGS if p.parent != CONFIGS]
PAPER_CONFIGS = [p for p in RECIPES if p.name.startswith("skillmix_")]
LORA_CONFIGS = [p for p in RECIPES if p.name == "lora_1gpu.yaml"]
CPU_RECIPES = [p for p in RECIPES if p.name == "lora_cpu.yaml"]  # real small models (scripts/get_*.sh)


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
    assert config["trainer"]["logger"]["class_path"] == "lightning_modules.run_logger.RunLogger"


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
    assert model["optimizer"]["init_args"]["fused"] is True  # no fp32 temporary of the shard (foreach)
    assert model["activation_checkpointing_every"] >= 1 and model["load_timeout_minutes"] >= 60
    assert model["scheduler"]["class_path"] == "lightning_modules.schedules.WarmupConstantLR"
    assert model["scheduler"]["init_args"]["warmup_steps"] == 64
    callbacks = trainer["callbacks"]
    checkpoints = [cb["init_args"] for cb in callbacks if cb["class_path"].endswith("ModelCheckpoint")]
    assert {cb["every_n_train_steps"] for cb in checkpoints} == {500}
    weights_only = [cb for cb in checkpoints if cb["save_weights_only"]]
    (full,) = [cb for cb in checkpoints if not cb["save_weights_only"]]
    assert weights_only and all(cb["save_top_k"] == -1 for cb in weights_only)  # every one, for evaluation
    newest_kept = (full["monitor"], full["mode"], full["save_top_k"], full["save_last"])
    assert newest_kept == ("step", "max", 1, "link")
    assert f"python cli.py fit --config configs/{path.parent.name}/{path.name}" in path.read_text()


def test_fit_help_documents_the_module_arguments(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        run_trainer_cli(["fit", "--help"])
    help_text = capsys.readouterr().out
    assert "Initialise the weights from the config" in help_text
    assert "--model.activation_checkpointing" in help_text
    assert "--model.lora_rank" in help_text and "Biderman et al. 2024" in help_text


def test_every_model_has_a_lora_recipe():
    assert {p.parent for p in LORA_CONFIGS} == {p.parent for p in PAPER_CONFIGS}
    assert set(RECIPES) == set(PAPER_CONFIGS) | set(LORA_CONFIGS) | set(CPU_RECIPES)


@pytest.mark.parametrize("path", CPU_RECIPES, ids=lambda p: p.parent.name)
def test_cpu_recipes_run_lora_on_the_cpu_and_say_how(path: Path, capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys, "--config", str(path))
    assert config["trainer"]["accelerator"] == "cpu" and config["model"]["lora_rank"] > 0
    assert config["model"]["model_name_or_path"] == f"models/{path.parent.name}"  # where get_*.sh puts it
    header = path.read_text().split("\nseed_everything")[0]
    assert f"cli.py fit --config configs/{path.parent.name}/{path.name}" in header
    assert "cli.py export" in header


@pytest.mark.parametrize("path", LORA_CONFIGS, ids=lambda p: p.parent.name)
def test_lora_recipe_is_the_papers_data_and_steps_on_one_gpu(path: Path, capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys, "--config", str(path))
    trainer, model, data = config["trainer"], config["model"], config["data"]
    paper = resolved_config(capsys, "--config", str(path.parent / "skillmix_d123.yaml"))
    assert trainer["devices"] == 1 and trainer["strategy"] == "auto"
    assert data["batch_size"] * trainer["accumulate_grad_batches"] == 64
    assert trainer["max_steps"] == paper["trainer"]["max_steps"] == 4000
    assert trainer["precision"] == "bf16-mixed"
    assert data["max_length"] == 1024
    assert data["train_files"] == paper["data"]["train_files"]
    assert model["model_name_or_path"] == paper["model"]["model_name_or_path"]
    assert model["activation_checkpointing"] is True
    assert (model["lora_rank"], model["lora_alpha"], model["lora_target_modules"]) == (16, 32, "all-linear")
    assert model["optimizer"]["init_args"]["lr"] == 2e-4
    assert model["scheduler"]["init_args"]["warmup_steps"] == 64
    header = path.read_text()
    assert f"python cli.py fit --config configs/{path.parent.name}/{path.name}" in header
    assert all(f"{size} GB card" in header for size in (24, 48, 80))


def test_lora_tiny_is_the_offline_default_with_lora(capsys: pytest.CaptureFixture[str]):
    config = resolved_config(capsys, "--config", str(CONFIGS / "lora_tiny.yaml"))
    default = resolved_config(capsys)
    assert config["model"]["lora_rank"] > 0 and default["model"]["lora_rank"] == 0
    assert config["model"]["model_name_or_path"] == default["model"]["model_name_or_path"]
    assert config["trainer"]["accelerator"] == "cpu" and config["model"]["random_init"] is True
