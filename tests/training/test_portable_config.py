"""A saved run config names the packaged assets relative to the checkout, so it runs from anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli import main
from datamodules.packaged import CHECKOUT, TINY_LLAMA, TINY_LLAMA_NAME, resolve
from tests.training.tiny import small_fit_config


def test_a_packaged_name_resolves_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve(TINY_LLAMA_NAME) == str(TINY_LLAMA)
    own = tmp_path / "datamodules" / "assets" / "tiny-llama"
    own.mkdir(parents=True)
    assert resolve(TINY_LLAMA_NAME) == TINY_LLAMA_NAME  # a folder of the working directory wins
    assert resolve("meta-llama/Llama-2-13b-chat-hf") == "meta-llama/Llama-2-13b-chat-hf"  # a hub id


@pytest.mark.slow
def test_the_saved_config_of_a_fit_runs_again_from_another_folder(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    main(["fit", "--config", str(small_fit_config(first, checkpoint_every=1, max_steps=1))])
    saved = (first / "version_0" / "config.yaml").read_text()
    config = yaml.safe_load(saved)
    assert config["model"]["model_name_or_path"] == TINY_LLAMA_NAME  # data.tokenizer is linked to it
    assert str(CHECKOUT) not in saved

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config["trainer"]["logger"]["init_args"]["save_dir"] = "runs"
    (elsewhere / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, str(CHECKOUT / "cli.py"), "fit", "--config", "config.yaml"]
    finished = subprocess.run(command, cwd=elsewhere, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (elsewhere / "runs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
