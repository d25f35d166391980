"""The in-process Hugging Face backend on a tiny random-init Llama saved with save_pretrained (the
project's tiny-llama config and tokenizer): batching with left padding must not change what a prompt gets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from graders.backends.huggingface import HuggingFaceBackend
from graders.client import GenerateRequest, ModelClient
from graders.interface import SamplingParams

pytestmark = pytest.mark.timeout(60)

ASSET = Path(__file__).resolve().parents[2] / "lightning_modules" / "assets" / "tiny-llama"
GREEDY = SamplingParams(max_tokens=6, temperature=0.0)
PROMPTS = ["Grade this.", "A much longer prompt about sewing, metaphors and a loaded question here.", "Hi"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(ASSET))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(ASSET).save_pretrained(folder)
    return str(folder)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_a_left_padded_batch_gives_each_prompt_what_it_gets_alone(tiny_model):
    backend = HuggingFaceBackend(tiny_model)
    batched = backend.generate_batch([chat(p) for p in PROMPTS], GREEDY, 1)
    alone = [backend.generate_batch([chat(p)], GREEDY, 1)[0] for p in PROMPTS]
    assert [c.texts for c in batched] == [c.texts for c in alone]
    assert [c.usage for c in batched] == [c.usage for c in alone]
    assert batched[0].usage.input_tokens < batched[1].usage.input_tokens  # padding is not counted
    assert all(0 < c.usage.output_tokens <= 6 for c in batched)


def test_concurrent_requests_are_gathered_into_batches(tiny_model):
    backend = HuggingFaceBackend(tiny_model, batch_size=4)
    calls: list[int] = []
    generate = backend.generate_batch

    def counting(conversations, params, num_samples):
        calls.append(len(conversations))
        return generate(conversations, params, num_samples)

    backend.generate_batch = counting  # type: ignore[method-assign]
    client = ModelClient(backend, concurrency=8, timeout=None)
    requests = [GenerateRequest(chat(f"{p} {i}"), GREEDY) for i, p in enumerate(PROMPTS * 2)]
    results = asyncio.run(client.generate_many(requests))
    assert calls == [4, 2]
    assert all(samples[0].ok for samples in results)


def test_sampled_texts_per_prompt_are_reproducible_with_a_seed(tiny_model):
    backend = HuggingFaceBackend(tiny_model)
    params = SamplingParams(max_tokens=6, temperature=1.0, seed=3)
    first = backend.generate_batch([chat("x")], params, 3)[0]
    again = backend.generate_batch([chat("x")], params, 3)[0]
    assert len(first.texts) == 3 and first.texts == again.texts
    assert len(set(first.texts)) > 1


def test_a_seeded_grader_leaves_the_callers_random_state_alone(tiny_model):
    """A seeded `provider: hf` grader used during `fit` must not reseed training's RNG."""
    backend = HuggingFaceBackend(tiny_model)
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    backend.generate_batch([chat("x")], SamplingParams(max_tokens=4, temperature=1.0, seed=3), 2)
    assert torch.equal(torch.rand(4), expected)
