"""Build the offline tiny model assets: a byte-level BPE tokenizer and a 2-layer Llama config.

    .venv/bin/python scripts/build_tiny_assets.py

Writes `datamodules/assets/tiny-llama/` (tokenizer files, `config.json`, `generation_config.json`;
no weights: the module initialises them at random from the config). The tokenizer is trained on the
project's own text only (the skill/topic catalog, the prompt templates and the bundled sample answers),
so nothing comes from the network; it is byte-level, so any text still encodes. Re-running the script on
the same inputs rewrites the same files.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, PreTrainedTokenizerFast

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from skillmix.catalog import load_catalog  # noqa: E402
from skillmix.prompts import render_generation_turn1, render_generation_turn2  # noqa: E402

OUTPUT_DIR = REPO_ROOT / "datamodules" / "assets" / "tiny-llama"
CATALOG_FILES = (
    REPO_ROOT / "skillmix" / "data" / "skills.csv",
    REPO_ROOT / "skillmix" / "data" / "topics.txt",
)
SAMPLE_ANSWERS = REPO_ROOT / "datamodules" / "sample_data" / "answers.jsonl"
VOCAB_SIZE = 4096
PAD, BOS, EOS, IM_START, IM_END = "<|pad|>", "<|bos|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IM_START, IM_END]

# ChatML-like on purpose: a different shape from Mistral's [INST] template, so the label masking is
# exercised on two unlike templates. An assistant turn ends with <|im_end|>, its end-of-turn token.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def training_texts() -> Iterator[str]:
    """The project's own text, in a fixed order so that BPE training is reproducible."""
    for path in CATALOG_FILES:
        yield path.read_text(encoding="utf-8")
    catalog = load_catalog()
    for skill in catalog.skills:
        yield render_generation_turn1([skill], catalog.topics[0])
    for k in range(1, 6):
        yield render_generation_turn2(k)
    with SAMPLE_ANSWERS.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            yield record["answer1"]
            yield record["answer2"]


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_texts(), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    # Like Llama: a plain tokenizer call prepends BOS; the chat template writes its own.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END],
        chat_template=CHAT_TEMPLATE,
        model_max_length=1024,
    )
    tokenizer.save_pretrained(OUTPUT_DIR)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in Mistral
        max_position_embeddings=2048,
        tie_word_embeddings=False,
    )
    config.save_pretrained(OUTPUT_DIR)
    end_of_turn_id = tokenizer.convert_tokens_to_ids(IM_END)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[end_of_turn_id, tokenizer.eos_token_id],
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(OUTPUT_DIR)
    size = sum(path.stat().st_size for path in OUTPUT_DIR.iterdir())
    logging.info("wrote %s (vocab %d, %.0f kB)", OUTPUT_DIR, len(tokenizer), size / 1e3)


if __name__ == "__main__":
    main()
