"""Tokenize D(k) files and text corpora with `datasets.map`, cached on disk by content.

The cache key covers everything the tokens depend on (file bytes, tokenizer vocabulary and special tokens,
chat template, length cap and truncation mode), so editing any of them re-tokenizes and nothing else does.
Each rank calls the same functions: the first call writes the Arrow cache, the others memory-map it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import datasets
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from datamodules.chat_tokenization import (
    ChatExampleTokenizer,
    ChatTemplateError,
    TextChunkTokenizer,
    Truncation,
)
from datamodules.dk_files import read_skillmix_file, read_text_corpus
from datamodules.packaged import resolve

CACHE_FORMAT = 1
"""Bump when the tokenized columns change meaning, to invalidate old caches."""


def load_tokenizer(name_or_path: str, chat_template: str | None = None) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(resolve(name_or_path))
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    if not tokenizer.chat_template:
        raise ChatTemplateError(
            f"{name_or_path}: the tokenizer has no chat template. Fix: pass one via `data.chat_template`"
        )
    return tokenizer


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocabulary = (
        backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    )
    identity = [vocabulary, tokenizer.chat_template, str(tokenizer.special_tokens_map)]
    return hashlib.sha256("\0".join(identity).encode()).hexdigest()


def _cache_file(cache_dir: str | None, path: Path, kind: str, *settings: object) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps([CACHE_FORMAT, kind, *settings], default=str).encode())
    root = Path(cache_dir) if cache_dir else Path(datasets.config.HF_DATASETS_CACHE) / "skillmix_tokenized"
    root.mkdir(parents=True, exist_ok=True)
    return str(root / f"{kind}-{digest.hexdigest()[:24]}.arrow")


@dataclass(frozen=True)
class LengthCapReport:
    """What the length cap did to one D(k) file, per k."""

    path: str
    examples: Counter[int]
    over_length: Counter[int]
    dropped: Counter[int]


def tokenize_skillmix_file(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    truncation: Truncation,
    num_proc: int | None = None,
    cache_dir: str | None = None,
    system_prompt: str | None = None,
) -> tuple[datasets.Dataset, LengthCapReport]:
    """The file's usable examples (columns input_ids, labels, num_targets, length, k) and the cap report;
    `system_prompt` is the system turn given to examples without one (see `with_system_turn`)."""
    path = Path(path)
    records = read_skillmix_file(path)
    fingerprint = tokenizer_fingerprint(tokenizer)
    cache_file = _cache_file(cache_dir, path, "skillmix", fingerprint, max_length, truncation, system_prompt)
    raw = datasets.Dataset.from_dict(
        {"k": [record.k for record in records], "messages": [list(record.messages) for record in records]}
    )
    tokenized = raw.map(
        ChatExampleTokenizer(tokenizer, max_length, truncation, system_prompt),
        batched=True,
        num_proc=num_proc,
        remove_columns=["messages"],
        cache_file_name=cache_file,
        new_fingerprint=Path(cache_file).stem,
        desc=f"Tokenizing {path.name}",
    )
    ks = tokenized["k"]
    report = LengthCapReport(
        path=str(path),
        examples=Counter(ks),
        over_length=Counter(k for k, over in zip(ks, tokenized["over_length"], strict=True) if over),
        dropped=Counter(k for k, dropped in zip(ks, tokenized["dropped"], strict=True) if dropped),
    )
    kept = [index for index, dropped in enumerate(tokenized["dropped"]) if not dropped]
    return tokenized.select(kept).remove_columns(["over_length", "dropped"]), report


def tokenize_text_corpus(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    num_proc: int | None = None,
    cache_dir: str | None = None,
) -> datasets.Dataset:
    """Chunks of at most `max_length` tokens of every document, with the loss on all tokens (k = 0)."""
    path = Path(path)
    cache_file = _cache_file(cache_dir, path, "text", tokenizer_fingerprint(tokenizer), max_length)
    chunks = datasets.Dataset.from_dict({"text": read_text_corpus(path)}).map(
        TextChunkTokenizer(tokenizer, max_length),
        batched=True,
        num_proc=num_proc,
        remove_columns=["text"],
        cache_file_name=cache_file,
        new_fingerprint=Path(cache_file).stem,
        desc=f"Tokenizing {path.name}",
    )
    return chunks.add_column("k", [0] * len(chunks))
