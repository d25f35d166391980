"""The one-GPU readiness check before a multi-GPU run (not a test): `bash benchmarks/gpu_check.sh [--tiny]`.

Nothing is downloaded: a random-init ~1.1B Llama (`benchmarks/llama-1b.json`, with the project's own
tokenizer) trains on the bundled SKILL-MIX sample through the project's own module, datamodule and FSDP2
strategy. In one run (a few minutes on one H100/H200) it measures:

(a) a bf16-mixed FSDP2 fit (ModelParallelStrategy on 1 GPU, activation checkpointing, fused Adam, clipping)
    of `steps` optimizer steps of batches padded to 1024 tokens: non-padding tokens/s, MFU, peak memory;
    one profiler pass over two optimizer steps counts the host synchronisations per step and names the SDPA
    kernel that ran; peak memory across an optimizer step followed by one evaluation batch at the paper
    preset's batch size (`configs/eval/skillmix_paper.yaml`), as the evaluation callback runs it;
(b) evaluation generation (the callback's `BatchGenerator`) of 64 two-turn SKILL-MIX prompts at two batch
    sizes: generated tokens/s, and the SDPA kernel generation used;
(c) `cli.py export` of the run's sharded checkpoint, then `from_pretrained`: logits equal to the checkpoint's.

It prints one table and writes it (and the same as JSON) to the output folder. `--tiny` runs the same
steps with the 2-layer offline model on CPU in fp32, as a smoke check of the script (its figures mean
nothing; CUDA-only columns read n/a).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.fabric.utilities.load import _load_distributed_checkpoint
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import ModelParallelStrategy
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModelForCausalLM, AutoTokenizer

from datamodules.packaged import TINY_LLAMA
from datamodules.skillmix_datamodule import SkillMixDataModule
from lightning_modules.causal_lm import CausalLMModule
from lightning_modules.export import export
from lightning_modules.hf_model import empty_causal_lm, load_config
from lightning_modules.schedules import WarmupConstantLR
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from skillmix.catalog import load_catalog
from skillmix.evaluation.plan import build_plan
from skillmix.splits import make_splits

REPO = Path(__file__).resolve().parents[1]
LLAMA_1B = Path(__file__).resolve().parent / "llama-1b.json"
PAPER_EVAL = REPO / "configs" / "eval" / "skillmix_paper.yaml"
SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0}
"""Dense bf16 peak per GPU, for MFU."""


def settings(tiny: bool) -> dict[str, Any]:
    preset = yaml.safe_load(PAPER_EVAL.read_text())["trainer"]["callbacks+"][0]["init_args"]
    common = {"prompts": 64, "eval_batch_size": preset["batch_size"], "seed": 0}
    if tiny:
        return common | dict(
            steps=6, batch_size=2, accumulate=2, max_length=256, profile_at=2, eval_memory_at=4,
            generation_batch_sizes=(8, 32), new_tokens=8, eval_new_tokens=8,
        )  # fmt: skip
    return common | dict(
        steps=30, batch_size=8, accumulate=2, max_length=1024, profile_at=10, eval_memory_at=20,
        generation_batch_sizes=(8, preset["batch_size"]), new_tokens=128,
        eval_new_tokens=preset["student"]["max_new_tokens"],
    )  # fmt: skip


def model_dir(output: Path, tiny: bool) -> Path:
    """The tiny offline model, or the 1B config beside the project's own tokenizer (no weights anywhere)."""
    if tiny:
        return TINY_LLAMA
    target = output / "llama-1b"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        shutil.copy(TINY_LLAMA / name, target / name)
    shutil.copy(LLAMA_1B, target / "config.json")
    return target


def two_turn_prompts(count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (turn 1, turn 2) prompt pairs of the evaluation's own plan (train/held-out, k = 2, 3)."""
    catalog = load_catalog()
    per_k = -(-count // 4)
    plan = build_plan(catalog, make_splits(catalog, seed), ["train", "heldout"], [2, 3], per_k, 1, seed)
    return [plan.user_turns(item) for item in plan.items[:count]]


def sdpa_ops(events: Any) -> list[str]:
    """The SDPA implementations (aten ops) that ran, e.g. `_scaled_dot_product_efficient_attention`."""
    return sorted({e.name.removeprefix("aten::") for e in events if "_scaled_dot_product_" in e.name})


class Probe(Callback):
    """Times the fit, profiles two optimizer steps, and measures memory of a step followed by an
    evaluation batch; every CUDA synchronisation it adds is outside the profiled and timed windows."""

    def __init__(self, setup: dict[str, Any], tokenizer: Any, cuda: bool) -> None:
        self.setup, self.tokenizer, self.cuda = setup, tokenizer, cuda
        self.warmup = 5
        self.real_tokens: torch.Tensor | None = None
        self.computed_tokens = 0
        self.started = 0.0
        self.seconds = 0.0
        self.steps_timed = 0
        self.profiler: profile | None = None
        self.results: dict[str, Any] = {}

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, i: int) -> None:
        first_micro_batch = i % self.setup["accumulate"] == 0
        step = trainer.global_step
        if first_micro_batch and step == self.warmup:
            self._sync()
            self.started = time.perf_counter()
            self.real_tokens = torch.zeros((), dtype=torch.long, device=pl_module.device)
        if first_micro_batch and step == self.setup["profile_at"]:
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
            self.profiler = profile(activities=activities)
            self.profiler.start()
        if first_micro_batch and step == self.setup["eval_memory_at"] and self.cuda:
            self._sync()
            self.results["train_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
            torch.cuda.reset_peak_memory_stats()
        if self.real_tokens is not None:
            self.real_tokens += batch["attention_mask"].sum()  # on the device: no synchronisation
            self.computed_tokens += batch["input_ids"].numel()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        step = trainer.global_step  # already advanced after the window's optimizer step
        if self.profiler is not None and step == self.setup["profile_at"] + 2:
            self.profiler.stop()
            events = self.profiler.events()
            syncs = sum(1 for e in events if e.name in SYNC_EVENTS)
            self.results["syncs_per_step"] = syncs / 2 if self.cuda else None
            self.results["train_sdpa"] = sdpa_ops(events)
            self.profiler = None
        if step == self.setup["eval_memory_at"] + 1 and trainer.fit_loop._should_accumulate() is False:
            self._evaluation_batch(pl_module)

    def _evaluation_batch(self, pl_module: LightningModule) -> None:
        """One generation batch at the preset's size right after an optimizer step (gradients still held)."""
        model = pl_module.model
        assert model is not None
        sampling = StudentSampling(temperature=0.7, max_new_tokens=self.setup["eval_new_tokens"])
        generator = BatchGenerator(model, self.tokenizer, sampling)
        prompts = two_turn_prompts(self.setup["eval_batch_size"], self.setup["seed"])
        model.eval()
        generator.two_turns(prompts, seed=self.setup["seed"])
        model.train()
        if self.cuda:
            self._sync()
            self.results["step_then_eval_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self.started
        self.steps_timed = trainer.global_step - self.warmup


def fit(
    setup: dict[str, Any], model_path: Path, output: Path, cuda: bool
) -> tuple[CausalLMModule, Probe, Path]:
    seed_everything(setup["seed"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    module = CausalLMModule(
        str(model_path),
        random_init=True,
        activation_checkpointing=True,
        optimizer=partial(torch.optim.Adam, lr=2e-5, fused=cuda),
        scheduler=partial(WarmupConstantLR, warmup_steps=5),
    )
    data = SkillMixDataModule(
        tokenizer=str(model_path),
        max_length=setup["max_length"],
        truncation="right",
        padding="max_length",
        batch_size=setup["batch_size"],
        cache_dir=str(output / "datasets_cache"),
    )
    probe = Probe(setup, tokenizer, cuda)
    checkpoints = output / "checkpoints"
    weights = ModelCheckpoint(
        dirpath=checkpoints,
        filename="step{step}",
        auto_insert_metric_name=False,
        every_n_train_steps=setup["steps"],
        save_top_k=-1,
        save_weights_only=True,
    )
    trainer = Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        strategy=ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1),
        precision="bf16-mixed" if cuda else "32-true",
        max_steps=setup["steps"],
        accumulate_grad_batches=setup["accumulate"],
        gradient_clip_val=1.0,
        use_distributed_sampler=False,
        logger=False,
        enable_model_summary=False,
        log_every_n_steps=10,
        callbacks=[probe, weights],
        default_root_dir=str(output),
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, datamodule=data)
    return module, probe, checkpoints / f"step{setup['steps']}.ckpt"


def generation_speed(
    module: CausalLMModule, tokenizer: Any, setup: dict[str, Any], cuda: bool
) -> tuple[dict[int, float], list[str]]:
    """Answer tokens/s over 64 two-turn prompts per batch size (greedy: the same answers at every size),
    counted by re-tokenizing the answers; and the SDPA kernels that generation ran."""
    model = module.model
    assert model is not None
    model.eval()
    prompts = two_turn_prompts(setup["prompts"], setup["seed"])
    # which SDPA kernel generation runs, on a short call (a profile of a whole generation would be huge)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    probe = BatchGenerator(model, tokenizer, StudentSampling(temperature=0.0, max_new_tokens=4))
    with profile(activities=activities) as profiler:
        probe.reply([[{"role": "user", "content": first}] for first, _ in prompts[:4]], seed=setup["seed"])
    kernels = sdpa_ops(profiler.events())
    sampling = StudentSampling(temperature=0.0, max_new_tokens=setup["new_tokens"])
    generator = BatchGenerator(model, tokenizer, sampling)
    speeds = {}
    for batch_size in setup["generation_batch_sizes"]:
        if cuda:
            torch.cuda.synchronize()
        start, tokens = time.perf_counter(), 0
        for first in range(0, len(prompts), batch_size):
            for conversation in generator.two_turns(prompts[first : first + batch_size], seed=setup["seed"]):
                answers = [turn["content"] for turn in conversation if turn["role"] == "assistant"]
                encoded = tokenizer(answers, add_special_tokens=False)["input_ids"]
                tokens += sum(len(ids) for ids in encoded)
        if cuda:
            torch.cuda.synchronize()
        speeds[batch_size] = tokens / (time.perf_counter() - start)
    return speeds, kernels


def export_matches(checkpoint: Path, output: Path) -> tuple[float, float]:
    """Exports the sharded checkpoint (fp32), reloads it with from_pretrained, and compares logits with the
    checkpoint's own weights; returns the largest absolute logit difference and the export's seconds."""
    start = time.perf_counter()
    exported = export(ckpt_path=str(checkpoint), output_dir=str(output / "export"), dtype="float32")
    seconds = time.perf_counter() - start
    reloaded = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32)
    # the reference: the same architecture with every weight replaced by the checkpoint's own
    weights = _load_distributed_checkpoint(checkpoint)["state_dict"]
    reference = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32)
    reference.load_state_dict({name.removeprefix("model."): value for name, value in weights.items()})
    tokens = torch.randint(3, 4000, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        difference = (reloaded(input_ids=tokens).logits - reference(input_ids=tokens).logits).abs().max()
    return float(difference), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the 2-layer offline model on CPU: a smoke run")
    parser.add_argument("--output_dir", default="runs/gpu_check", help="where the table and the run go")
    parser.add_argument("--peak_tflops", type=float, default=None, help="dense bf16 peak for MFU")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        raise SystemExit("no CUDA device: run with --tiny for the CPU smoke run")
    output = Path(args.output_dir)
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    setup = settings(args.tiny)
    path = model_dir(output, args.tiny)
    began = time.perf_counter()

    module, probe, checkpoint = fit(setup, path, output, cuda)
    tokenizer = AutoTokenizer.from_pretrained(path)
    speeds, generation_kernels = generation_speed(module, tokenizer, setup, cuda)
    del module
    difference, export_seconds = export_matches(checkpoint, output)

    config = load_config(str(path))
    parameters = sum(p.numel() for p in empty_causal_lm(str(path)).parameters())  # meta: no memory
    layers, hidden, length = config.num_hidden_layers, config.hidden_size, setup["max_length"]
    flops_per_token = 6 * parameters + 12 * layers * hidden * length
    computed_per_s = probe.computed_tokens / probe.seconds
    device = torch.cuda.get_device_name() if cuda else "CPU"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
    real = int(probe.real_tokens) if probe.real_tokens is not None else 0

    def gb(value: float | None) -> str:
        return "n/a (CPU)" if value is None else f"{value:.1f} GB"

    results = probe.results
    rows = [
        ("device", device),
        ("model", f"{path.name}: {parameters / 1e9:.2f}B parameters, random init"),
        (
            "(a) fit",
            f"{setup['steps']} steps x {setup['accumulate']} micro-batches of {setup['batch_size']} x "
            f"{length} tokens, {'bf16-mixed' if cuda else 'fp32'}, FSDP2, activation checkpointing",
        ),
        ("(a) non-padding tokens/s", f"{real / probe.seconds:,.0f} (of {computed_per_s:,.0f} computed)"),
        ("(a) MFU", f"{flops_per_token * computed_per_s / (peak * 1e12):.1%}" if cuda and peak else "n/a"),
        ("(a) peak memory, training steps", gb(results.get("train_peak_gb"))),
        ("(a) peak memory, step + eval batch", gb(results.get("step_then_eval_peak_gb"))
            + f" (batch {setup['eval_batch_size']}, {setup['eval_new_tokens']} new tokens per turn)"),
        ("(a) host syncs per optimizer step", "n/a (CPU)" if results.get("syncs_per_step") is None
            else f"{results['syncs_per_step']:g} ({setup['accumulate']} micro-batches each)"),
        ("(a) SDPA in training", ", ".join(results.get("train_sdpa", [])) or "none seen"),
        ("(b) SDPA in generation", ", ".join(generation_kernels) or "none seen"),
    ] + [
        (f"(b) answer tokens/s, batch {size}", f"{speed:,.0f} ({setup['prompts']} two-turn prompts, "
            f"{setup['new_tokens']} new tokens per turn)")
        for size, speed in speeds.items()
    ] + [
        ("(c) export -> from_pretrained", f"max |logit difference| {difference:.3g} "
            f"({'equal' if difference == 0 else 'DIFFERENT'}), export {export_seconds:.1f} s"),
        ("wall clock", f"{time.perf_counter() - began:.0f} s"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
    print(table)
    (output / "gpu_check.txt").write_text(table + "\n")
    (output / "gpu_check.json").write_text(json.dumps(dict(rows), indent=2) + "\n")
    print(f"written to {output / 'gpu_check.txt'}")


if __name__ == "__main__":
    main()
