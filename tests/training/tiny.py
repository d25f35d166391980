"""Test helpers: a tiny Llama (config + tokenizer, saved like a hub model) and hand-made batches."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TEXT = [
    "Answer: The harbour town wakes slowly, its gulls arguing over the morning catch.",
    "Explanation: the metaphor compares the gulls to merchants; the text stays on the topic.",
    "Improve the text and keep it to at most two sentences.",
]


def build_tiny_model_dir(root: Path, vocab_size: int = 320) -> Path:
    """A 2-layer Llama config and a byte-level BPE tokenizer with a chat template, no weights."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(root)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    config.save_pretrained(root)
    return root


def make_batch(
    lengths: list[int], answer_from: list[int], vocab_size: int, width: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Right-padded batch with the loss on positions >= answer_from[i] of each real sequence."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(8, vocab_size, (len(lengths), width), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, -100)
    for row, (length, start) in enumerate(zip(lengths, answer_from, strict=True)):
        attention_mask[row, :length] = 1
        labels[row, start:length] = input_ids[row, start:length]
        input_ids[row, length:] = 2
    targets = (labels[:, 1:] != -100).sum()
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "loss_tokens_in_step": targets,
    }


DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


def build_pretrained_tiny_dir(root: Path, seed: int = 0) -> Path:
    """The bundled tiny Llama with seeded random weights saved by `save_pretrained`, beside its tokenizer:
    a stand-in for a hub model (weights to load, so a LoRA run keeps its base out of checkpoints)."""
    from transformers import AutoTokenizer

    from datamodules.packaged import TINY_LLAMA
    from lightning_modules.hf_model import load_causal_lm

    torch.manual_seed(seed)
    load_causal_lm(str(TINY_LLAMA), random_init=True).save_pretrained(root)
    AutoTokenizer.from_pretrained(TINY_LLAMA).save_pretrained(root)
    return root


def small_fit_config(root: Path, checkpoint_every: int, max_steps: int) -> Path:
    """configs/default.yaml, shortened and writing under `root`, with a checkpoint every few steps."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    trainer = config["trainer"]
    trainer.update(max_steps=max_steps, log_every_n_steps=1, enable_model_summary=False)
    trainer["logger"]["init_args"]["save_dir"] = str(root)
    (checkpoint,) = trainer["callbacks"]
    checkpoint["init_args"]["every_n_train_steps"] = checkpoint_every  # into <root>/version_N/checkpoints
    config["data"]["val_examples"] = 0
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def logged_steps(metrics_csv: Path, column: str) -> dict[int, float]:
    """step -> value of one metric column in a CSVLogger file."""
    with metrics_csv.open() as file:
        return {int(row["step"]): float(row[column]) for row in csv.DictReader(file) if row.get(column)}
