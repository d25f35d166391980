"""A real pretrained chat model on the offline path: SmolLM2-135M-Instruct, converted from its GGUF file.

What the tiny random model cannot show: the conversion keeps the weights (same greedy tokens as transformers'
own GGUF load), the answer mask is exact under a real ChatML template that writes a default system turn,
LoRA lowers a real model's loss, and the answer checks read what a real model writes. All greedy, so
deterministic; few tokens, so the module runs in about a minute on two CPU cores.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from cli import main
from datamodules.chat_tokenization import IGNORE_INDEX, ChatExampleTokenizer
from datamodules.collate import PaddingCollator
from datamodules.packaged import SAMPLE_DATA
from graders.chat_generation import ChatGenerator
from lightning_modules.causal_lm import CausalLMModule
from scripts.convert_gguf import greedy_reply
from skillmix.answers import extract_answer
from skillmix.text_checks import count_sentences
from tests.evaluation.rubric_server import RubricServer
from tests.smollm2.conftest import GGUF_FILE, REPO

pytestmark = pytest.mark.slow

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
"""What SmolLM2's template writes as the system turn of a conversation that has none."""


def sample_messages(index: int = 0) -> list[dict[str, str]]:
    with SAMPLE_DATA.open() as lines:
        return json.loads(lines.readlines()[index])["messages"]


def tokenize(tokenizer, messages, system_prompt=None, max_length=4096, truncation="drop"):
    columns = ChatExampleTokenizer(tokenizer, max_length, truncation, system_prompt)({"messages": [messages]})
    return {name: values[0] for name, values in columns.items()}


def target_runs(ids: list[int], labels: list[int]) -> list[list[int]]:
    """The maximal runs of consecutive target tokens."""
    runs: list[list[int]] = []
    for position, (token, label) in enumerate(zip(ids, labels, strict=True)):
        if label == IGNORE_INDEX:
            continue
        if position and labels[position - 1] != IGNORE_INDEX:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def test_the_converted_model_answers_with_the_gguf_loads_greedy_tokens(model, tokenizer):
    gguf = AutoModelForCausalLM.from_pretrained(
        str(GGUF_FILE.parent), gguf_file=GGUF_FILE.name, dtype=torch.float32
    ).eval()
    expected = greedy_reply(gguf, tokenizer, max_new_tokens=12)
    assert greedy_reply(model, tokenizer, max_new_tokens=12) == expected
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


def test_the_label_mask_of_a_real_chatml_example_covers_exactly_the_two_answers(tokenizer):
    messages = sample_messages()
    example = tokenize(tokenizer, messages)
    ids, labels = example["input_ids"], example["labels"]
    text = tokenizer.decode(ids)
    assert text.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n")
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    decoded = [tokenizer.decode(run) for run in target_runs(ids, labels)]
    assert decoded == [f"{answer}<|im_end|>" for answer in answers]
    assert example["num_targets"] == sum(label != IGNORE_INDEX for label in labels)
    # the training config states the template's default system turn: the same tokens, the same targets
    config = yaml.safe_load((REPO / "configs/smollm2-135m-instruct/lora_cpu.yaml").read_text())
    assert config["data"]["system_prompt"] == DEFAULT_SYSTEM
    assert tokenize(tokenizer, messages, system_prompt=DEFAULT_SYSTEM) == example


def test_three_lora_steps_lower_the_loss_on_a_repeated_batch(model_dir, tokenizer):
    module = CausalLMModule(model_name_or_path=str(model_dir), lora_rank=8, lora_dropout=0.0)
    module.configure_model()
    # checkpoints hold the adapters only: the tied output head is frozen base too
    assert {name for name in module.state_dict() if "lora_" not in name} == set()
    # the first answer, cut after 320 tokens: enough targets, a short step
    example = tokenize(tokenizer, sample_messages(), max_length=320, truncation="right")
    assert example["num_targets"] > 50
    batch = PaddingCollator(tokenizer.pad_token_id)([example | {"loss_tokens_in_step": 0}])
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=2e-3)
    losses = []
    for _ in range(4):
        loss_sum, targets = module.summed_token_loss(batch)
        losses.append((loss_sum / targets).item())
        optimizer.zero_grad()
        (loss_sum / targets).backward()
        optimizer.step()
    assert losses[1] < losses[0] and losses[3] < losses[0] - 0.2, losses


def test_answer_extraction_and_sentence_count_on_its_real_replies(model, tokenizer, model_dir):
    chat = ChatGenerator(model, tokenizer, model_name_or_path=str(model_dir))
    conversations = [[{"role": "user", "content": prompt}] for prompt in REPLIES]
    replies = chat.replies(conversations, max_new_tokens=40, sampling={"do_sample": False}, seed=None)
    for (prompt, (text, answer, sentences)), (reply,) in zip(REPLIES.items(), replies, strict=True):
        assert reply.text == text, prompt
        assert extract_answer(reply.text) == answer
        assert count_sentences(extract_answer(reply.text)) == sentences


def test_cli_evaluate_gets_real_two_turn_answers_from_it(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-evaluation")
    with RubricServer() as grader:
        main([
            "evaluate",
            "--student.provider", "hf",
            "--student.model", str(model_dir),
            "--student.system_prompt", DEFAULT_SYSTEM,
            "--student.temperature", "0",
            "--student.max_new_tokens", "24",
            "--grader.provider", "openai-compatible",
            "--grader.model", "scripted-grader",
            "--grader.base_url", f"{grader.url}/v1",
            "--grader.max_attempts", "1",
            "--settings", "[train]",
            "--ks", "[1]",
            "--combinations_per_k", "1",
            "--generation_rounds", "1",
            "--progress", "false",
            "--output_dir", str(tmp_path / "out"),
        ])  # fmt: skip
    (record,) = [json.loads(line) for line in (tmp_path / "out/step000000/records.jsonl").open()]
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert record["messages"][0]["content"] == DEFAULT_SYSTEM
    assert record["student"]["system_prompt"] == DEFAULT_SYSTEM
    answers = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
    assert answers == [ECHO, ECHO]
    assert record["answer"] == extract_answer(answers[1])


ECHO = (
    "The example of a minimal natural piece of text with up to a few lines in the context of Ballet that "
    "illustrates all"
)
"""Both greedy 24-token answers of the untuned model, read by hand: it echoes the request instead of
writing "Answer:", so the whole reply is graded (a weak student, as expected of 135M parameters)."""

REPLIES: dict[str, tuple[str, str, int]] = {
    # asked for "Answer:", it writes none: the reply is graded whole, and it is one sentence
    "Write one sentence about beekeeping that uses a metaphor. Begin with 'Answer:'.": (
        "In a beehive, a metaphor of the intricate dance of life is woven, where every step, every moment, "
        "and every sacrifice is a testament to the beauty and resilience of the bee's world",
    )
    * 2
    + (1,),
    # a numbered list: the reference's rule breaks after "1." and "2." (a full stop, a space, a capital) but
    # not at "marathon.\n2", so two list items count as three sentences
    "Write two short sentences about marathon running. Begin with 'Answer:' and end with a line that begins "
    "with 'Explanation:'.": ("1. Running a marathon is a marathon.\n2. Running a marathon is a marathon.",)
    * 2
    + (3,),
    # asked for three sentences, it writes one
    "Describe a thunderstorm in three short sentences.": (
        "A thunderstorm is a violent storm that forms when a thunderstorm is fueled by lightning and heavy "
        "precipitation.",
    )
    * 2
    + (1,),
}
"""Prompt -> (greedy reply, extracted answer, sentences), checked by hand. The three are generated as one
left-padded batch, as the evaluation's student batches them."""
