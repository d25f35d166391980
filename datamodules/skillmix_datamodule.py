"""The LightningDataModule that turns D(k) files into training batches.

Batch contract (what `lightning_modules` relies on): every batch is a dict with

- `input_ids` (B, T) long, `attention_mask` (B, T) long (1 = real token, right padding),
- `labels` (B, T) long, unshifted like Hugging Face labels, -100 wherever no loss is taken
  (prompts, chat-template scaffolding, padding; position 0 never counts after the causal shift),
- `loss_tokens_in_step`: 0-d long tensor, the number of target tokens (positions t >= 1 with
  `labels[:, t] != -100`) summed over all micro-batches of the current optimizer step on every rank, i.e.
  the window of `trainer.accumulate_grad_batches` consecutive micro-batches of each rank (windows restart
  at each epoch, the last one may be shorter). The module divides the summed token loss by it, so the loss
  is the token-weighted mean over the global batch, with no collective. Validation batches carry the
  count of their own row of batches (a window of one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import datasets
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from datamodules.batch_sampler import TokenWindowBatchSampler
from datamodules.collate import PaddingCollator, WindowedExamples
from datamodules.mixture import DataSource, Mixture, draw_mixture
from datamodules.packaged import SAMPLE_DATA, TINY_LLAMA_NAME
from datamodules.tokenized_files import (
    LengthCapReport,
    load_tokenizer,
    tokenize_skillmix_file,
    tokenize_text_corpus,
)
from skillmix.errors import InputError


class SkillMixDataModule(LightningDataModule):
    """Two-turn SKILL-MIX examples rendered with the model's chat template, loss on the answers only."""

    def __init__(
        self,
        tokenizer: str = TINY_LLAMA_NAME,
        train_files: list[str | DataSource] | None = None,
        subsample: int | None = None,
        text_corpus: str | None = None,
        text_ratio: float = 0.0,
        val_examples: int = 0,
        max_length: int = 1024,
        truncation: Literal["drop", "right"] = "drop",
        padding: Literal["longest", "max_length"] = "longest",
        batch_size: int = 4,
        bucket_batches: int = 32,
        chat_template: str | None = None,
        system_prompt: str | None = None,
        seed: int = 1234,
        num_workers: int = 0,
        num_proc: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        """
        Args:
            tokenizer: Hub id or local directory of the tokenizer whose chat template renders the examples;
                normally the model's own. Default: the project's tiny offline tokenizer.
            train_files: D(k) JSONL files to mix, each a path (all of its examples) or a `DataSource` with a
                `count` or `weight`. Default: the bundled sample of k = 1, 2, 3 examples.
            subsample: Draw this many examples uniformly from the mixed SKILL-MIX pool (e.g. D(1,2,3)
                subsampled to 8000); None keeps all.
            text_corpus: Optional plain-text corpus mixed in with the loss on all its tokens: a .txt file
                (one document per line) or a .jsonl file with a "text" field. Documents longer than
                `max_length` are split into chunks.
            text_ratio: Share of the training examples that come from `text_corpus` (0 <= ratio < 1).
            val_examples: SKILL-MIX examples held out of the training mixture for validation (0: none).
            max_length: Cap on tokens per example (the paper uses 1024).
            truncation: What happens to an example longer than `max_length`: "drop" skips it (default:
                answer 2 is what the model must learn, and a cut would remove it), "right" cuts its end.
                Either way the count per k is reported at setup.
            padding: "longest" pads each batch to its longest example and groups similar lengths into
                batches (fast); "max_length" pads every batch to `max_length` (the paper's setting).
                The loss does not depend on it.
            batch_size: Examples per micro-batch on each device.
            bucket_batches: With "longest" padding, examples are sorted by length within pools of
                `bucket_batches` global batches before batching; 1 disables length bucketing.
            chat_template: Jinja chat template that replaces the tokenizer's own (for tokenizers without one).
            system_prompt: System turn rendered before every SKILL-MIX example that has none. None (default):
                the examples as stored, so a template that writes a default system turn (SmolLM2's ChatML:
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face") writes it, and the
                evaluation's student, sending none either, sees the same prompt. It is never a target.
            seed: Seed of the mixture sampling, the validation split and the batch order.
            num_workers: DataLoader worker processes.
            num_proc: Processes for tokenization with `datasets.map` (None: in-process).
            cache_dir: Where tokenized datasets are cached (default: the Hugging Face datasets cache).
        """
        super().__init__()
        if truncation not in ("drop", "right") or padding not in ("longest", "max_length"):
            raise InputError(f"unknown truncation {truncation!r} or padding {padding!r}")
        if text_corpus is not None and text_ratio == 0.0:
            rank_zero_warn(f"text_corpus {text_corpus} is given but text_ratio is 0, so it is not used")
        self.save_hyperparameters()
        self.sources = [
            DataSource(path=source) if isinstance(source, str) else source
            for source in (train_files or [str(SAMPLE_DATA)])
        ]
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.train_set: datasets.Dataset | None = None
        self.val_set: datasets.Dataset | None = None

    def prepare_data(self) -> None:
        """Tokenize once per node before the other ranks set up (they then read the cache)."""
        self._tokenize(load_tokenizer(self.hparams["tokenizer"], self.hparams["chat_template"]))

    def setup(self, stage: str) -> None:
        if self.train_set is not None:
            return
        self.tokenizer = load_tokenizer(self.hparams["tokenizer"], self.hparams["chat_template"])
        parts, reports, text = self._tokenize(self.tokenizer)
        _report_length_cap(reports, self.hparams["max_length"], self.hparams["truncation"])
        mixture = draw_mixture(
            [len(part) for part in parts],
            self.sources,
            text_size=0 if text is None else len(text),
            text_ratio=self.hparams["text_ratio"],
            subsample=self.hparams["subsample"],
            val_examples=self.hparams["val_examples"],
            seed=self.hparams["seed"],
        )
        columns = ["input_ids", "labels", "num_targets", "length", "k"]
        pool = datasets.concatenate_datasets(
            [part.select_columns(columns) for part in parts + ([] if text is None else [text])]
        )
        self.train_set = pool.select(mixture.train)
        self.val_set = pool.select(mixture.validation) if mixture.validation else None
        _report_mixture(self.sources, mixture)

    def _tokenize(
        self, tokenizer: PreTrainedTokenizerBase
    ) -> tuple[list[datasets.Dataset], list[LengthCapReport], datasets.Dataset | None]:
        settings = {"num_proc": self.hparams["num_proc"], "cache_dir": self.hparams["cache_dir"]}
        cap = {"max_length": self.hparams["max_length"]}
        parts, reports = [], []
        for source in self.sources:
            part, report = tokenize_skillmix_file(
                source.path,
                tokenizer,
                truncation=self.hparams["truncation"],
                system_prompt=self.hparams["system_prompt"],
                **cap,
                **settings,
            )
            parts.append(part)
            reports.append(report)
        text = None
        if self.hparams["text_corpus"] is not None and self.hparams["text_ratio"] > 0:
            text = tokenize_text_corpus(self.hparams["text_corpus"], tokenizer, **cap, **settings)
        return parts, reports, text

    def _loader(
        self, examples: datasets.Dataset, shuffle: bool, accumulate_grad_batches: int
    ) -> StatefulDataLoader:
        assert self.tokenizer is not None, "setup() builds the tokenizer before any dataloader"
        trainer = self.trainer
        pad_token_id = self.tokenizer.pad_token_id
        if pad_token_id is None:
            pad_token_id = self.tokenizer.eos_token_id  # any real id works: padding is masked and unlabelled
        longest = self.hparams["padding"] == "longest"
        sampler = TokenWindowBatchSampler(
            lengths=examples["length"],
            num_targets=examples["num_targets"],
            batch_size=self.hparams["batch_size"],
            accumulate_grad_batches=accumulate_grad_batches,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            shuffle=shuffle,
            bucket_batches=self.hparams["bucket_batches"] if longest else None,
            seed=self.hparams["seed"],
        )
        return StatefulDataLoader(
            WindowedExamples(examples),
            batch_sampler=sampler,
            collate_fn=PaddingCollator(pad_token_id, pad_to=None if longest else self.hparams["max_length"]),
            num_workers=self.hparams["num_workers"],
        )

    def train_dataloader(self) -> StatefulDataLoader:
        assert self.train_set is not None, "call setup() first"
        accumulate = self.trainer.accumulate_grad_batches if self.trainer is not None else 1
        return self._loader(self.train_set, shuffle=True, accumulate_grad_batches=accumulate)

    def val_dataloader(self) -> StatefulDataLoader | list:
        """Batches of the held-out examples; an empty list (no validation) when `val_examples` is 0."""
        if self.val_set is None:
            return []
        return self._loader(self.val_set, shuffle=False, accumulate_grad_batches=1)


WARN_ABOVE = 0.03
"""Share of a k's examples cut or dropped by the length cap above which setup warns."""


def _report_length_cap(reports: Sequence[LengthCapReport], max_length: int, truncation: str) -> None:
    """One line per file and k; a warning where the cap touches more than WARN_ABOVE of the examples."""
    for report in reports:
        for k in sorted(report.examples):
            total, over, dropped = report.examples[k], report.over_length[k], report.dropped[k]
            message = (
                f"{Path(report.path).name}, k={k}: {total} examples, {over} longer than {max_length} tokens"
            )
            if truncation == "drop":
                message += f" dropped ({over / total:.1%})"
            else:
                message += f" cut at the end ({over / total:.1%})"
            if dropped > (over if truncation == "drop" else 0):
                message += f", {dropped} dropped for lack of any answer token within the cap"
            if max(over, dropped) / total > WARN_ABOVE:
                rank_zero_warn(f"{message}: more than {WARN_ABOVE:.0%}, consider max_length or truncation")
            else:
                rank_zero_info(message)


def _report_mixture(sources: Sequence[DataSource], mixture: Mixture) -> None:
    drawn = ", ".join(
        f"{Path(source.path).name}: {count}"
        for source, count in zip(sources, mixture.train_per_source, strict=True)
    )
    rank_zero_info(
        f"training mixture: {len(mixture.train)} examples ({drawn}; plain-text chunks: {mixture.text}); "
        f"validation: {len(mixture.validation)}"
    )
