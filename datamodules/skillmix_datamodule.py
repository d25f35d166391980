"""The LightningDataModule that turns D(k) files into training batches.

Batch contract (what `lightning_modules` relies on): every batch is a dict with

- `input_ids` (B, T) long, `attention_mask` (B, T) long (1 = real token, right padding),
- `labels` (B, T) long, unshifted like Hugging Face labels, -100 wherever no loss is taken
  (prompts, chat-template scaffolding, padding; position 0 never counts after the causal shift),
- `loss_tokens_in_step`: 0-d long tensor, the number of target tokens (positions t >= 1 with
  `labels[:, t] != -100`) summed over all micro-batches of this rank's current optimizer step, i.e. the
  window of `trainer.accumulate_grad_batches` consecutive micro-batches (windows restart at each epoch,
  the last one may be shorter). The module all-reduces it over ranks and divides the summed token loss
  by it, so the loss is the token-weighted mean over the global batch. Validation batches carry the
  count of their own batch (a window of one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lightning.pytorch import LightningDataModule

PACKAGE_ROOT = Path(__file__).resolve().parent
SAMPLE_DATA = PACKAGE_ROOT / "sample_data" / "skillmix_sample.jsonl"
"""The bundled D(1)+D(2)+D(3) sample that the offline default trains on."""
TINY_TOKENIZER = PACKAGE_ROOT.parent / "lightning_modules" / "assets" / "tiny-llama"
"""The project's own byte-level BPE tokenizer (built by scripts/build_tiny_assets.py)."""


@dataclass(frozen=True)
class DataSource:
    """One D(k) JSONL file in a training mixture.

    Args:
        path: The D(k) JSONL file.
        count: Exactly this many examples from the file (after over-long ones are dropped); more than the
            file holds repeats examples. Overrides `weight`.
        weight: Multiplier on the file's size: 0.5 draws half of its examples, 2.0 uses each one twice.
    """

    path: str
    count: int | None = None
    weight: float = 1.0


class SkillMixDataModule(LightningDataModule):
    """Two-turn SKILL-MIX examples rendered with the model's chat template, loss on the answers only."""

    def __init__(
        self,
        tokenizer: str = str(TINY_TOKENIZER),
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
            seed: Seed of the mixture sampling, the validation split and the batch order.
            num_workers: DataLoader worker processes.
            num_proc: Processes for tokenization with `datasets.map` (None: in-process).
            cache_dir: Where tokenized datasets are cached (default: the Hugging Face datasets cache).
        """
        super().__init__()
        self.save_hyperparameters()
