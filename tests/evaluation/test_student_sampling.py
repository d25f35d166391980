"""The student samples as the reference's local students do, and every record says how it really sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from tests.training.tiny import build_tiny_model_dir

TURNS = [("Write about sailing with a metaphor.", "Now shorten it.")]


def _student(root: Path, shipped: GenerationConfig | None = None) -> tuple[Any, Any, str]:
    path = build_tiny_model_dir(root)
    if shipped is not None:
        shipped.save_pretrained(path)
    torch.manual_seed(0)
    # built from its config, as CausalLMModule builds it: the shipped generation config is not read
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    return model, AutoTokenizer.from_pretrained(path), str(path)


def test_default_is_the_reference_call_with_the_library_defaults(tmp_path):
    model, tokenizer, path = _student(tmp_path)
    generator = BatchGenerator(model, tokenizer, StudentSampling(), model_name_or_path=path)
    assert generator.effective_sampling == {
        "do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 1.0,
        "repetition_penalty": 1.0, "max_new_tokens": 512,
    }  # fmt: skip


def test_the_models_shipped_generation_config_applies_unless_overridden(tmp_path):
    shipped = GenerationConfig(do_sample=True, temperature=0.6, top_p=0.9)  # as LLaMA-2-chat ships it
    model, tokenizer, path = _student(tmp_path, shipped)
    default = BatchGenerator(model, tokenizer, StudentSampling(), model_name_or_path=path)
    assert default.effective_sampling["top_p"] == 0.9
    assert default.effective_sampling["temperature"] == 0.7  # the reference's temperature wins
    overridden = BatchGenerator(
        model, tokenizer, StudentSampling(top_k=0, top_p=1.0), model_name_or_path=path
    )
    assert overridden.effective_sampling["top_k"] == 0
    assert overridden.effective_sampling["top_p"] == 1.0


def test_generate_runs_with_the_effective_config(tmp_path):
    model, tokenizer, path = _student(tmp_path)
    short = StudentSampling(max_new_tokens=6)
    greedy = BatchGenerator(
        model, tokenizer, StudentSampling(temperature=0, max_new_tokens=6), model_name_or_path=path
    )
    top1 = BatchGenerator(
        model, tokenizer, StudentSampling(top_k=1, max_new_tokens=6), model_name_or_path=path
    )
    sampled = BatchGenerator(model, tokenizer, short, model_name_or_path=path)
    assert greedy.effective_sampling["do_sample"] is False
    greedy_text = greedy.two_turns(TURNS, seed=1)
    assert top1.two_turns(TURNS, seed=2) == greedy_text  # top_k=1 reached generate: sampling is argmax
    draws = {tuple(m["content"] for m in sampled.two_turns(TURNS, seed=s)[0]) for s in range(6)}
    assert len(draws) > 1  # the default samples (top-k 50 of a random model's near-flat distribution)


@pytest.mark.parametrize("bad", [{"temperature": -1}, {"top_p": 0}, {"top_k": -2}, {"max_new_tokens": 0}])
def test_invalid_sampling_is_refused(bad):
    with pytest.raises(ValueError, match="invalid student sampling"):
        StudentSampling(**bad)
