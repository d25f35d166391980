"""Fixtures for the data tests: the project's tiny tokenizer, the real Mistral v0.2 tokenizer, D(k) files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from datamodules.packaged import SAMPLE_DATA, TINY_LLAMA

# Mistral-7B-Instruct-v0.2's chat template, written so that its rendering tokenizes to exactly what
# mistral_common's v1 instruct tokenizer produces: "<s> [INST] u1 [/INST] a1</s> [INST] u2 [/INST] a2</s>".
MISTRAL_V02_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ ' [INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)


def mistral_tokenizer_model() -> Path:
    mistral_common = pytest.importorskip("mistral_common")
    return Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"


@pytest.fixture(scope="session")
def mistral_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face tokenizer folder for Mistral-7B-Instruct-v0.2, built from mistral_common's file."""
    folder = tmp_path_factory.mktemp("mistral-7b-instruct-v0.2")
    shutil.copy(mistral_tokenizer_model(), folder / "tokenizer.model")
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": False,
        "chat_template": MISTRAL_V02_CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def mistral_tokenizer(mistral_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(mistral_dir)


@pytest.fixture(scope="session")
def mistral_reference():
    """mistral_common's own tokenizer for that file, in fine-tuning mode (conversations end with answers)."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(mistral_tokenizer_model()), mode=ValidationMode.finetuning)


@pytest.fixture(scope="session")
def tiny_tokenizer() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(TINY_LLAMA)


@pytest.fixture(scope="session")
def sample_records() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_DATA.read_text(encoding="utf-8").splitlines()]


def build_record(index: int, k: int, answer_words: int = 20) -> dict:
    """A small valid D(k) line whose answers have a chosen length."""
    answer = " ".join(f"word{index}_{i}" for i in range(answer_words))
    return {
        "id": f"test-{k}-{index}",
        "k": k,
        "skills": [f"skill {i}" for i in range(k)],
        "topic": "Testing",
        "messages": [
            {"role": "user", "content": f"Write about testing with {k} skills, example {index}."},
            {"role": "assistant", "content": f"Answer: {answer}\n\nExplanation: fine."},
            {"role": "user", "content": "Improve it."},
            {"role": "assistant", "content": f"Answer: {answer} again."},
        ],
        "teacher": "test",
        "source": "test",
    }


@pytest.fixture
def make_record() -> Callable[..., dict]:
    return build_record


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, list], Path]:
    def write(name: str, rows: list) -> Path:
        path = tmp_path / name
        path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
        return path

    return write
