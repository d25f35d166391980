"""`SkillMixEvalCallback`: SKILL-MIX(k) of the model being trained, at the steps you choose.

Add it after a training config, e.g. `python cli.py validate --config configs/default.yaml --config
configs/eval/skillmix_small.yaml`; the presets append it to `trainer.callbacks`.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import _TunerExitException
from torch.distributed.tensor import DTensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from graders.evaluation_description import EvalDescription, clear_finished, mark_finished
from graders.settings import ClientSettings
from lightning_modules.export import checkpoint_step
from lightning_modules.skillmix_eval.background import BackgroundGrading
from lightning_modules.skillmix_eval.data_ties import evaluation_splits, training_data
from lightning_modules.skillmix_eval.distributed import RankGroup
from lightning_modules.skillmix_eval.dry_run import Schedule, fit_steps, print_dry_run
from lightning_modules.skillmix_eval.evaluation import (
    EvalContext,
    generate_checkpoint,
    grade_and_share,
    grade_checkpoint,
)
from lightning_modules.skillmix_eval.gathered import gathered_parameters
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling
from lightning_modules.skillmix_eval.grading import GradingSettings
from lightning_modules.skillmix_eval.logging_steps import log_at_step
from skillmix.catalog import load_catalog
from skillmix.errors import InputError
from skillmix.evaluation.plan import build_plan, seen_in
from skillmix.evaluation.reporting import headline
from skillmix.evaluation.store import save_splits
from skillmix.metrics import ScoringOptions

log = logging.getLogger(__name__)


class SkillMixEvalCallback(Callback):
    """Generates SKILL-MIX answers with the model, grades them, logs `skillmix/<setting>/k<k>/<metric>`."""

    def __init__(
        self,
        grader: ClientSettings | None = None,
        grading: GradingSettings | None = None,
        student: StudentSampling | None = None,
        settings: list[str] | None = None,
        ks: list[int] | None = None,
        combinations_per_k: int = 100,
        generation_rounds: int = 3,
        seed: int = 0,
        batch_size: int = 16,
        before_training: bool = True,
        every_n_train_steps: int | None = None,
        on_checkpoint_save: bool = False,
        on_validate: bool = True,
        output_dir: str | None = None,
        run_name: str | None = None,
        skills_csv: str | None = None,
        topics_txt: str | None = None,
        splits: str | None = None,
        split_seed: int = 0,
        generation_template: str = "default",
        scoring: ScoringOptions | None = None,
        exclude_seen_combinations: bool = False,
        fail_on_grading_errors: bool = True,
        wait_timeout_hours: float = 48.0,
        grading_mode: Literal["background", "deferred", "inline"] = "background",
        max_pending_gradings: int = 2,
        gather_parameters: bool = True,
        dry_run: bool = False,
        progress: bool = True,
    ) -> None:
        """
        Args:
            grader: The grader model and how to call it (provider, model, base_url, concurrency, cache,
                budget, ...). Default: OpenAI gpt-4-0613, the paper's grader; needs OPENAI_API_KEY.
            grading: Grading rounds (default 3, majority vote), prompt template, grader temperature/seed.
            student: How the evaluated model samples: temperature, top_p, max_new_tokens.
            settings: Which skill/topic pools: "train", "heldout", "all" (default: all three).
            ks: Numbers of skills per combination (default 2, 3, 4, 5).
            combinations_per_k: Combinations drawn per (setting, k), the same at every checkpoint.
            generation_rounds: Answers per combination; a combination scores its best (or mean) round.
            seed: Seed of the combinations and of the student's sampling.
            batch_size: Conversations per `generate` call on each rank.
            before_training: In `fit`, evaluate the model before the first step (step 0: the base model).
            every_n_train_steps: In `fit`, evaluate every this many optimizer steps (None: never).
            on_checkpoint_save: In `fit`, evaluate whenever a checkpoint is saved. Evaluations during `fit`
                run once the step's checkpoints are written, with the gradients freed: a failing
                evaluation stops the run but never keeps a checkpoint from being written.
            on_validate: In `validate`, evaluate the model (from `--ckpt_path`, or the base model).
            output_dir: Where the per-step folders go; default `<log dir>/skillmix_eval`. Point a re-run at
                the same folder to resume it.
            run_name: The `run` field of every record; default the log directory's last two parts.
            skills_csv: Skill catalog in the official format; default the packaged one.
            topics_txt: Topics to go with `skills_csv`.
            splits: A splits JSON. Default: the `splits.json` beside the training data's D(k) files (which
                their records' `split` fingerprint must match), else one made from the catalog by category
                with `split_seed`; saved as `splits.json` in `output_dir`. A file other than the training
                data's split is an error.
            split_seed: Seed of the topic split when neither `splits` nor the training data gives one.
            generation_template: Generation prompt template in `skillmix.prompts`.
            scoring: How points become metrics (length point, name penalty, max/mean over rounds).
            exclude_seen_combinations: Never draw a (skills, topic) combination that the training files
                hold (default: draw as usual and report the overlap, `seen_in_training` in metrics.json).
            fail_on_grading_errors: Stop when some gradings failed (after writing everything that worked),
                so the run can be resumed; otherwise log the incomplete metrics and go on.
            wait_timeout_hours: How long the other ranks wait for rank 0's grading before giving up.
            grading_mode: In `fit`, "background": once the ranks have generated a checkpoint's answers,
                training goes on while rank 0 grades them in a worker thread; the metrics are logged at
                the evaluated step when that checkpoint is graded, and the end of `fit` waits for the
                rest (a grading error is reported then, not between steps). "deferred": the callback only
                generates, in `fit` and `validate` alike; the run makes no grader call and needs no grader
                key, and `python cli.py grade RUN_DIR` (`--follow` beside the running job) grades it with
                the grader saved in `<output_dir>/evaluation.json`. "inline": every rank waits for the
                grading. `validate` grades inline unless deferred. All three give the same records and
                metrics.
            max_pending_gradings: In background mode, at most this many checkpoints wait for grading;
                the next evaluation waits for the oldest first.
            gather_parameters: With an FSDP2-sharded model, gather every layer once for a checkpoint's
                whole generation instead of once per new token, and reshard after. Costs one full copy of
                the model per rank while generating (bf16: ~14.5 GB for Mistral-7B, ~26 GB for
                LLaMA-2-13B); turn it off where that does not fit. Answers are the same either way.
            dry_run: Print what the evaluation of the checkpoints this run will save would do (generations,
                grading requests, estimated tokens and cost at list prices) and stop before any
                generation, training or call. Needs no credentials.
            progress: Show live progress on rank 0: generation batches done of total, and for inline
                grading the gradings done, in flight, retried and failed, and the spend so far (background
                grading logs its summary instead: its worker must not draw beside training's progress bar).
        """
        super().__init__()
        self.grader = grader or ClientSettings()
        self.grading = grading or GradingSettings()
        self.student = student or StudentSampling()
        self.settings = settings or ["train", "heldout", "all"]
        self.ks = ks or [2, 3, 4, 5]
        self.combinations_per_k = combinations_per_k
        self.generation_rounds = generation_rounds
        self.seed = seed
        self.batch_size = batch_size
        self.before_training = before_training
        self.every_n_train_steps = every_n_train_steps
        self.on_checkpoint_save = on_checkpoint_save
        self.on_validate = on_validate
        self.output_dir = output_dir
        self.run_name = run_name
        self.skills_csv = skills_csv
        self.topics_txt = topics_txt
        self.splits = splits
        self.split_seed = split_seed
        self.generation_template = generation_template
        self.scoring = scoring or ScoringOptions()
        self.exclude_seen_combinations = exclude_seen_combinations
        self.fail_on_grading_errors = fail_on_grading_errors
        self.wait_timeout = timedelta(hours=wait_timeout_hours)
        if grading_mode not in ("background", "deferred", "inline"):
            raise InputError(
                f"grading_mode must be 'background', 'deferred' or 'inline', got {grading_mode!r}"
            )
        self.grading_mode = grading_mode
        self.background = BackgroundGrading(max_pending_gradings)
        self.gather_parameters = gather_parameters
        self.dry_run = dry_run
        self.progress = progress
        self.background_errors: list[BaseException] = []
        self.context: EvalContext | None = None
        self.group: RankGroup | None = None
        self.evaluated_steps: set[int] = set()
        self.due_steps: set[int] = set()
        """Steps whose evaluation waits for their checkpoints to be written."""

    # -- set-up: everything that can fail, fails here, before any training or generation --

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.context is not None:
            return
        if stage == "validate" and self.on_validate and not _has_validation_data(trainer):
            raise InputError(
                "`validate` runs the SKILL-MIX evaluation when its validation loop ends, and Lightning skips "
                "that loop without validation data. Fix: set `data.val_examples` > 0 (e.g. 4)."
            )
        if self.grading_mode != "deferred" and self.grader.provider != "hf" and not self.dry_run:
            self.grader.build_backend()  # raises MissingCredentialsError naming the variable
        catalog = load_catalog(self.skills_csv, self.topics_txt)
        training = training_data(trainer)
        splits = evaluation_splits(self.splits, training, catalog, self.split_seed)
        plan = build_plan(
            catalog,
            splits,
            self.settings,
            self.ks,
            self.combinations_per_k,
            self.generation_rounds,
            self.seed,
            self.generation_template,
            exclude=training.combinations if self.exclude_seen_combinations else (),
        )
        seen = seen_in(plan, training.combinations)
        log_dir = trainer.log_dir  # a collective under DDP/FSDP: every rank asks
        output_dir = Path(self.output_dir or Path(log_dir or trainer.default_root_dir) / "skillmix_eval")
        self.group = RankGroup(self.wait_timeout)
        self.context = EvalContext(
            plan=plan,
            output_dir=output_dir,
            run=self.run_name or _run_name(log_dir, trainer.default_root_dir),
            seed=self.seed,
            batch_size=self.batch_size,
            student=self.student,
            student_model=str(pl_module.hparams.get("model_name_or_path", type(pl_module).__name__)),
            grader=self.grader,
            grading=self.grading,
            scoring=self.scoring,
            fail_on_grading_errors=self.fail_on_grading_errors,
            seen_in_training=seen,
            progress=self.progress,
        )
        if self.group.is_main and not self.dry_run:
            save_splits(splits, output_dir / "splits.json")
            self._description().save(output_dir)
            clear_finished(output_dir)
        graded = (
            f"graded later by `cli.py grade {output_dir}` (deferred)"
            if self.grading_mode == "deferred"
            else f"graded {self.grading.rounds}x by {self.grader.model}"
        )
        rank_zero_info(
            f"SKILL-MIX evaluation: {len(plan.items)} generations per checkpoint "
            f"({', '.join(self.settings)}; k={self.ks}; {self.combinations_per_k} combinations x "
            f"{self.generation_rounds} rounds), {graded}, into {output_dir}"
        )
        if any(seen.values()):
            overlap = ", ".join(f"{group} {count}" for group, count in seen.items() if count)
            rank_zero_info(
                f"SKILL-MIX combinations also in the training files: {overlap} "
                f"(of {self.combinations_per_k} each; `exclude_seen_combinations: true` draws others)"
            )
        if self.dry_run:
            self._dry_run(trainer, stage)

    def _dry_run(self, trainer: Trainer, stage: str) -> None:
        """Print the cost of the evaluations this run would make, then end it (before any model is built)."""
        assert self.context is not None and self.group is not None
        if stage == "fit":
            schedule = Schedule(self.before_training, self.every_n_train_steps, self.on_checkpoint_save)
            steps = fit_steps(trainer, schedule)
        else:
            steps = [checkpoint_step(Path(trainer.ckpt_path)) if trainer.ckpt_path else 0]
        if self.group.is_main:
            print_dry_run(self.context, steps)
        raise _TunerExitException()  # Lightning's own clean stop from a callback (its tuner callbacks use it)

    # -- when to evaluate --

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.before_training and trainer.global_step == 0:
            self.evaluate(trainer, pl_module, step=0, checkpoint=None)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self.every_n_train_steps and step > 0 and step % self.every_n_train_steps == 0:
            self.due_steps.add(step)

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Lightning holds the checkpoint's state while this hook runs and writes it after: only note the step
        if self.on_checkpoint_save and trainer.state.fn == TrainerFn.FITTING:
            self.due_steps.add(trainer.global_step)

    # Checkpoint callbacks run after every other callback (Lightning moves them last), so a step's checkpoints
    # are on disk when the next batch starts and when training ends: the due evaluations run there, and one
    # that fails can no longer keep a checkpoint from being written.

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._publish(trainer, self._background_finished())
        if batch_idx % trainer.accumulate_grad_batches == 0:  # right after an optimizer step
            self._evaluate_due(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._evaluate_due(trainer, pl_module)
        try:
            self._publish(trainer, self.background.wait_all())
        except Exception as error:
            self.background_errors.append(error)
        if self.background_errors:
            raise self.background_errors[0]
        self._mark_finished()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.background.close()  # the grading in progress finishes and is written; queued ones are dropped

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.background.close()

    def _evaluate_due(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.due_steps:
            return
        # the last step's gradients are dead weight now (the next step zeroes them before its backward):
        # free them for the generation's KV cache
        if pl_module.automatic_optimization:
            for optimizer in trainer.optimizers:
                optimizer.zero_grad(set_to_none=True)
        try:
            for step in sorted(self.due_steps):
                self.evaluate(trainer, pl_module, step=step, checkpoint=None)
        finally:
            self.due_steps.clear()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.on_validate and trainer.state.fn == TrainerFn.VALIDATING:
            path = trainer.ckpt_path
            step = checkpoint_step(Path(path)) if path else 0
            self.evaluate(trainer, pl_module, step=step, checkpoint=str(path) if path else None)
            self._mark_finished()

    # -- the evaluation --

    def evaluate(
        self, trainer: Trainer, pl_module: LightningModule, step: int, checkpoint: str | None
    ) -> None:
        """Evaluate the model as it is now, once per step (a step seen again in this process is skipped)."""
        if step in self.evaluated_steps:
            return
        self.evaluated_steps.add(step)
        assert self.context is not None and self.group is not None, "setup() runs first"
        model = _hf_model(pl_module)
        generator = BatchGenerator(
            model,
            _tokenizer(trainer, self.context.student_model),
            self.student,
            synced_gpus=_is_sharded(model) and self.group.world_size > 1,
            model_name_or_path=self.context.student_model,
        )
        mode = self.grading_mode
        if mode == "background" and trainer.state.fn != TrainerFn.FITTING:
            mode = "inline"
        was_training = model.training
        model.eval()
        gathered = gathered_parameters(model) if self.gather_parameters else nullcontext()
        try:
            with gathered:  # for the generation only: grading needs no model
                generate_checkpoint(self.context, self.group, generator, step, checkpoint)
        finally:
            model.train(was_training)
        if mode == "inline":
            self._publish(trainer, [(step, grade_and_share(self.context, self.group, step, checkpoint))])
        elif mode == "deferred":
            rank_zero_info(f"SKILL-MIX at step {step}: generated; grading deferred to `cli.py grade`")
        elif self.group.is_main:
            grade = partial(grade_checkpoint, self.context, step, checkpoint)
            self._publish(trainer, self.background.submit(step, grade))

    def _description(self) -> EvalDescription:
        assert self.context is not None
        return EvalDescription(
            plan=self.context.plan,
            skills_csv=self.skills_csv,
            topics_txt=self.topics_txt,
            run=self.context.run,
            grader=self.grader,
            grading=self.grading,
            scoring=self.scoring,
            fail_on_grading_errors=self.fail_on_grading_errors,
            seen_in_training=self.context.seen_in_training,
        )

    def _mark_finished(self) -> None:
        """Tell a `grade --follow` beside this run that no more generations will come."""
        if self.context is not None and self.group is not None and self.group.is_main:
            mark_finished(self.context.output_dir, sorted(self.evaluated_steps))

    def _background_finished(self) -> list[tuple[int, dict[str, Any]]]:
        try:
            return self.background.finished()
        except (
            Exception
        ) as error:  # reported at the end of `fit`: stopping rank 0 alone would hang the others
            log.error("SKILL-MIX background grading failed (training goes on): %s", error)
            self.background_errors.append(error)
            return []

    def _publish(self, trainer: Trainer, graded: list[tuple[int, dict[str, Any]]]) -> None:
        """Log each checkpoint's metrics at its step to every logger, and into `trainer.callback_metrics`."""
        for step, metrics in graded:
            logged = metrics["logged"]
            for logger in trainer.loggers:
                log_at_step(logger, logged, step)
            trainer.callback_metrics.update({name: torch.tensor(value) for name, value in logged.items()})
            rank_zero_info(headline(metrics))


def _hf_model(pl_module: LightningModule) -> PreTrainedModel:
    model = getattr(pl_module, "model", None)
    if not isinstance(model, PreTrainedModel):
        raise InputError(
            f"{type(pl_module).__name__}.model is not a Hugging Face model; SkillMixEvalCallback generates "
            "with `pl_module.model.generate` (CausalLMModule provides it)"
        )
    return model


def _tokenizer(trainer: Trainer, model_name_or_path: str) -> PreTrainedTokenizerBase:
    """The datamodule's tokenizer (it carries any chat template override), else the model's own."""
    tokenizer = getattr(getattr(trainer, "datamodule", None), "tokenizer", None)
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    from datamodules.tokenized_files import load_tokenizer

    return load_tokenizer(model_name_or_path)


def _has_validation_data(trainer: Trainer) -> bool:
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None or trainer.limit_val_batches == 0:
        return trainer.limit_val_batches != 0
    return len(datamodule.val_dataloader()) > 0


def _is_sharded(model: torch.nn.Module) -> bool:
    return any(isinstance(parameter, DTensor) for parameter in model.parameters())


def _run_name(log_dir: str | None, root: str) -> str:
    parts = Path(log_dir or root).resolve().parts
    return "/".join(parts[-2:])
