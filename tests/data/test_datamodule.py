"""The datamodule end to end: batch contract, padding invariance of the loss, cap reports, text corpus."""

from __future__ import annotations

import logging

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from transformers import AutoConfig, AutoModelForCausalLM

from datamodules import DataSource, SkillMixDataModule
from datamodules.chat_tokenization import IGNORE_INDEX
from datamodules.collate import PaddingCollator
from datamodules.packaged import SAMPLE_DATA, TINY_LLAMA


@pytest.fixture
def sample_datamodule(tmp_path) -> SkillMixDataModule:
    datamodule = SkillMixDataModule(batch_size=4, val_examples=6, cache_dir=str(tmp_path / "cache"))
    datamodule.setup("fit")
    return datamodule


def summed_token_loss(model, batch) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1),
        batch["labels"][:, 1:].flatten(),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def test_loss_does_not_depend_on_the_padding_mode(sample_datamodule):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(TINY_LLAMA)).eval()
    keys = next(iter(sample_datamodule.train_dataloader().batch_sampler))
    examples = sample_datamodule.train_dataloader().dataset.__getitems__(keys)
    pad_id = sample_datamodule.tokenizer.pad_token_id
    longest, to_max = PaddingCollator(pad_id)(examples), PaddingCollator(pad_id, pad_to=1024)(examples)
    assert longest["input_ids"].shape[1] < to_max["input_ids"].shape[1] == 1024
    assert longest["input_ids"].shape[1] == max(len(e["input_ids"]) for e in examples)
    with torch.no_grad():
        losses = [summed_token_loss(model, b) / b["loss_tokens_in_step"] for b in (longest, to_max)]
    assert torch.isclose(losses[0], losses[1], rtol=0, atol=1e-5)
    assert longest["loss_tokens_in_step"] == (longest["labels"][:, 1:] != IGNORE_INDEX).sum()


def test_batches_follow_the_contract(sample_datamodule):
    batch = next(iter(sample_datamodule.train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels", "loss_tokens_in_step"}
    assert batch["input_ids"].dtype == batch["labels"].dtype == torch.long
    assert batch["loss_tokens_in_step"].ndim == 0
    padding = batch["attention_mask"] == 0
    assert padding.any() and (batch["labels"][padding] == IGNORE_INDEX).all()
    assert (batch["input_ids"][padding] == sample_datamodule.tokenizer.pad_token_id).all()
    validation = list(sample_datamodule.val_dataloader())
    assert sum(len(b["input_ids"]) for b in validation) == 6
    assert all(b["loss_tokens_in_step"] == (b["labels"][:, 1:] != IGNORE_INDEX).sum() for b in validation)


class RecordSteps(LightningModule):
    """Checks, inside a real Trainer, that loss_tokens_in_step covers exactly each optimizer step."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.steps: list[list[tuple[int, int]]] = [[]]

    def training_step(self, batch, batch_idx):
        self.steps[-1].append(
            (int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()), int(batch["loss_tokens_in_step"]))
        )
        return (self.weight**2).sum()

    def on_before_optimizer_step(self, optimizer):
        self.steps.append([])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_step_token_counts_match_the_trainers_accumulation(tmp_path):
    datamodule = SkillMixDataModule(batch_size=3, cache_dir=str(tmp_path / "cache"))
    module = RecordSteps()
    trainer = Trainer(
        max_epochs=2,
        accumulate_grad_batches=4,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=datamodule)
    steps = [step for step in module.steps if step]
    assert len(steps) == trainer.global_step and len(steps) > 4
    for step in steps:
        assert {announced for _, announced in step} == {sum(targets for targets, _ in step)}
    assert len(steps[len(steps) // 2 - 1]) < 4  # the epoch's last window is shorter, and the next restarts


def test_cap_report_warns_and_counts_per_k(tmp_path, write_jsonl, make_record, caplog):
    rows = [make_record(i, 1) for i in range(8)] + [make_record(8, 3, answer_words=400)]
    path = write_jsonl("d13.jsonl", rows)
    datamodule = SkillMixDataModule(train_files=[str(path)], max_length=256, cache_dir=str(tmp_path / "c"))
    with (
        caplog.at_level(logging.INFO),
        pytest.warns(UserWarning, match=r"k=3: 1 examples, 1 longer than 256"),
    ):
        datamodule.setup("fit")
    assert "d13.jsonl, k=1: 8 examples, 0 longer than 256 tokens dropped (0.0%)" in caplog.text
    assert datamodule.train_set is not None and len(datamodule.train_set) == 8


def test_text_corpus_is_mixed_in_with_loss_on_every_token(tmp_path, make_record, write_jsonl):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"Document {i} talks about bees and honey. " * 40 + "\n" for i in range(10)))
    path = write_jsonl("d1.jsonl", [make_record(i, 1, answer_words=5) for i in range(30)])
    datamodule = SkillMixDataModule(
        train_files=[DataSource(str(path), count=24)],
        text_corpus=str(corpus),
        text_ratio=0.25,
        max_length=256,
        cache_dir=str(tmp_path / "c"),
    )
    datamodule.setup("fit")
    assert datamodule.train_set is not None
    kinds = datamodule.train_set["k"]
    assert kinds.count(0) == 8 and kinds.count(1) == 24  # 8 / (8 + 24) = 0.25
    text = datamodule.train_set.filter(lambda example: example["k"] == 0)
    assert all(labels == ids for labels, ids in zip(text["labels"], text["input_ids"], strict=True))
    assert max(text["length"]) == 256 and all(
        n == length - 1 for n, length in zip(text["num_targets"], text["length"], strict=True)
    )


def test_default_trains_on_the_bundled_sample():
    datamodule = SkillMixDataModule()
    assert [source.path for source in datamodule.sources] == [str(SAMPLE_DATA)]
    assert datamodule.hparams["truncation"] == "drop" and datamodule.hparams["padding"] == "longest"


class RecordBatches(RecordSteps):
    def on_fit_start(self):
        self.seen: list[tuple[int, int, int]] = []

    def training_step(self, batch, batch_idx):
        ids = batch["input_ids"]
        self.seen.append((int(ids.sum()), ids.shape[1], int(batch["loss_tokens_in_step"])))
        return super().training_step(batch, batch_idx)


def fit(tmp_path, **trainer_kwargs) -> RecordBatches:
    module = RecordBatches()
    ckpt_path = trainer_kwargs.pop("ckpt_path", None)
    trainer = Trainer(
        max_epochs=3,
        accumulate_grad_batches=2,
        use_distributed_sampler=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **trainer_kwargs,
    )
    datamodule = SkillMixDataModule(batch_size=4, cache_dir=str(tmp_path / "cache"))
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    return module


def test_resume_from_a_mid_epoch_checkpoint_replays_nothing_and_skips_nothing(tmp_path):
    # 66 examples / 4 = 17 micro-batches = 9 optimizer steps per epoch; step 12 is mid-epoch 1.
    every_12 = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=12, save_top_k=-1, filename="{step}")
    uninterrupted = fit(tmp_path, callbacks=[every_12]).seen
    assert uninterrupted[:17] != uninterrupted[17:34]  # each epoch has its own order
    rest = fit(tmp_path, ckpt_path=str(tmp_path / "step=12.ckpt")).seen
    assert rest == uninterrupted[17 + 6 :]
