"""`dry_run: true`: the evaluation's cost over the checkpoints `fit` will save, printed before any work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli import main
from tests.evaluation.conftest import eval_callback, run_config


def test_fit_dry_run_prices_every_planned_checkpoint_and_stops_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    callback = eval_callback("http://127.0.0.1:9", tmp_path, on_checkpoint_save=True, dry_run=True)
    callback["init_args"]["grader"] = {"provider": "openai", "model": "gpt-4-0613"}
    main(["fit", "--config", str(run_config(tmp_path, callback, max_steps=4, checkpoint_every=2))])

    out = capsys.readouterr().out
    # step 0 before training, the checkpoints at steps 2 and 4 (save_last adds none): 8 answers each
    assert "3 checkpoints (steps 0, 2, 4), 8 generations each" in out
    assert out.count("8 to generate, 8 to grade") == 3
    assert "24 two-turn generations, in batches of 3 per rank" in out
    # 2 grading rounds, asked for in one OpenAI call per answer (n=2), priced at GPT-4's list price
    assert "48 grading requests (2 rounds x 24 answers) in 24 calls" in out
    cost = re.search(r"~\$([\d.,]+) at list prices", out)
    assert cost is not None and float(cost.group(1).replace(",", "")) > 0
    assert not (tmp_path / "ckpt").exists()  # no training step ran
    assert not (tmp_path / "skillmix_eval").exists()  # nothing written, not even splits.json
