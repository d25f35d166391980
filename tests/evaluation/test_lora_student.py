"""The evaluation callback on a LoRA run: it generates with the adapters active."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli import main
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer
from tests.evaluation.test_end_to_end import read_jsonl


@pytest.mark.slow
def test_lora_answers_change_as_the_adapters_train(tmp_path: Path, fake_key: None, grader: RubricServer):
    callback = eval_callback(grader.url, tmp_path, every_n_train_steps=4, run_name="tiny-lora")
    path = run_config(tmp_path, callback, max_steps=4)
    config = yaml.safe_load(path.read_text())
    config["model"].update(lora_rank=8)
    config["model"]["optimizer"]["init_args"]["lr"] = 3e-2
    config["model"]["scheduler"]["init_args"]["warmup_steps"] = 0
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path)])

    def answers(step: int) -> dict[tuple, str]:
        records = read_jsonl(tmp_path / "skillmix_eval" / f"step{step:06d}" / "records.jsonl")
        return {(r["setting"], r["k"], r["combination_index"]): r["answer"] for r in records}

    before, after = answers(0), answers(4)
    assert before.keys() == after.keys() and len(before) == 8
    # the base is frozen and sampling is seeded per batch: only the adapters can have changed the answers
    assert sum(before[key] != after[key] for key in before) >= 4
