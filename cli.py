"""skillmix-lightning command line.

Trainer runs (`fit`, `validate`, ...) go through LightningCLI; the project's other commands (`compare`,
`export`, ...) are plain functions whose docstrings jsonargparse turns into `--help`. Those are imported
lazily so that, for example, `compare` starts without importing torch.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Any

PROJECT_COMMANDS: dict[str, str] = {
    "agreement": "skillmix.agreement:main",
    "compare": "skillmix.compare:main",
    "export": "lightning_modules.export:export",
    "evaluate": "lightning_modules.evaluate_checkpoints:evaluate",
    "generate": "datamodules.generation.command:generate",
    "grade": "graders.grade_command:grade",
    "overlap": "datamodules.overlap_command:main",
    "report": "skillmix.report.command:main",
}
"""Command name -> "module:function" for commands that are not Trainer runs. A function named `main` parses
its own argv (compare: several positional paths and a bare `--json`); any other is given to jsonargparse."""

TRAINER_COMMANDS = ("fit", "validate")
"""The LightningCLI subcommands this project supports (its module has no test or predict step)."""

SUMMARIES: dict[str, str] = {
    "fit": "train on D(k) files (SKILL-MIX evaluation: add configs/eval/*.yaml)",
    "validate": "SKILL-MIX evaluation of the base model or of one checkpoint",
    "generate": "make D(k) training data with a teacher model (full marks kept)",
    "export": "a checkpoint as a Hugging Face model folder (vLLM, transformers)",
    "evaluate": "SKILL-MIX evaluation of any chat model (API, server, HF folder)",
    "grade": "re-grade evaluation records with another grader",
    "compare": "SKILL-MIX metrics per run, step, setting and k (+ JSON, plots)",
    "report": "runs, metrics and transcripts as one self-contained HTML file",
    "agreement": "grader agreement: with itself (Fleiss), with another (Cohen)",
    "overlap": "n-gram overlap of evaluation answers with the training texts",
}
"""One line per command for the top-level help."""


def configure_logging() -> None:
    """One place for the project commands' log format (Trainer runs keep Lightning's own)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpx2"):  # one INFO line per HTTP request would drown the progress line
        logging.getLogger(chatty).setLevel(logging.WARNING)


def run_project_command(name: str, argv: list[str]) -> None:
    from jsonargparse import auto_cli

    configure_logging()

    module_name, function_name = PROJECT_COMMANDS[name].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    if function_name == "main":
        function(argv)
    else:  # the whole first paragraph (jsonargparse keeps only its first line) and errors naming the command
        description = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
        auto_cli(function, args=argv, prog=f"cli.py {name}", description=description)


def usage() -> str:
    """The top-level help: every command with a line, and where each one's options are."""
    width = max(map(len, SUMMARIES))
    lines = [f"  {name.ljust(width)}  {summary}" for name, summary in SUMMARIES.items()]
    return (
        "usage: python cli.py COMMAND [OPTIONS]\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\n`python cli.py COMMAND --help` lists a command's options; `fit` and `validate`\n"
        "without --config run configs/default.yaml.\n"
    )


DEFAULT_CONFIG = Path(__file__).absolute().parent / "configs" / "default.yaml"
"""What `fit` and `validate` run when no `--config` is given: the offline CPU default."""


def run_trainer_cli(argv: list[str] | None = None) -> None:
    import torch.distributed
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.callbacks import ProgressBar
    from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

    from datamodules.skillmix_datamodule import SkillMixDataModule
    from lightning_modules.causal_lm import CausalLMModule
    from lightning_modules.console import StepProgressBar, silence_harmless_noise
    from lightning_modules.run_folders import remove_if_unused

    silence_harmless_noise()

    created: list[Path] = []
    """The run folder this command makes (none when it works in an existing one): removed if it fails."""

    class SkillMixCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            # the datamodule renders examples with the model's own tokenizer and chat template
            parser.link_arguments("model.model_name_or_path", "data.tokenizer")

        def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
            # `args` is sys.argv with the default config inserted: no "args and sys.argv both given" warning
            assert isinstance(args, list)
            self.config = parser.parse_args(args)

        def before_instantiate_classes(self) -> None:
            if self.subcommand == "validate":  # the run's own config.yaml is the training's
                self.save_config_kwargs["config_filename"] = "validate_config.yaml"
            run = choose_run_folder(self.config[self.subcommand], str(self.subcommand))
            if run is not None and not run.exists():
                created.append(run)

        def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
            if config.get("enable_progress_bar") is not False and not any(
                isinstance(c, ProgressBar) for c in [*callbacks, *(config.get("callbacks") or [])]
            ):
                callbacks = [*callbacks, StepProgressBar()]
            return super()._instantiate_trainer(config, callbacks)

        def after_fit(self) -> None:
            print_next_step(self.trainer, configs)

        def after_validate(self) -> None:
            print_next_step(self.trainer, configs)

    argv = list(sys.argv[1:] if argv is None else argv)
    # Only without a --config: as a parser default it would leak its CPU settings into every other config.
    if argv[:1] in (["fit"], ["validate"]) and not any(
        a in ("-c", "--config") or a.startswith("--config=") for a in argv
    ):
        argv[1:1] = ["--config", os.path.relpath(DEFAULT_CONFIG)]
    configs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-c", "--config")]
    try:
        SkillMixCLI(CausalLMModule, SkillMixDataModule, args=argv, save_config_kwargs={"overwrite": True})
    except BaseException:
        for run in created:
            remove_if_unused(run)
        raise
    finally:
        # Lightning leaves its process groups alive; destroyed at interpreter exit instead, gloo's threads
        # can abort the process ("terminate called without an active exception") after a finished run.
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def choose_run_folder(config: Any, subcommand: str) -> Path | None:
    """Give the logger its run folder (`version`) and `ckpt_path` its checkpoint, by the rule of
    `lightning_modules.run_folders`; None when the config fixes its own folders (a logger `version` or a
    checkpoint `dirpath`) or has no CSV logger."""
    from lightning_modules.console import silence_resume_warning
    from lightning_modules.run_folders import choose_run, version_of

    if subcommand not in ("fit", "validate"):
        return None
    logger = config.trainer.logger
    arguments = getattr(logger, "init_args", None)
    if (
        arguments is None
        or getattr(arguments, "save_dir", None) is None
        or arguments.get("version") is not None
    ):
        return None
    callbacks = config.trainer.callbacks or []
    if any(getattr(getattr(c, "init_args", None), "dirpath", None) for c in callbacks):
        return None
    root = Path(arguments.save_dir) / str(arguments.get("name") or "")
    choice = choose_run(root, subcommand, config.ckpt_path)
    if config.ckpt_path == "last" and choice.ckpt_path is None:
        logging.getLogger(__name__).warning(
            "No run under %s to resume (`--ckpt_path last`): starting one.", root
        )
    if subcommand == "fit" and choice.ckpt_path and version_of(choice.ckpt_path, root) is not None:
        silence_resume_warning()
    config.ckpt_path = choice.ckpt_path
    arguments.version = choice.version
    return root / f"version_{choice.version}"


def print_next_step(trainer: Any, configs: list[str]) -> None:
    """End every Trainer run with its SKILL-MIX results (a `validate`) and the exact command that shows
    them, or, after a `fit` without evaluation, the command that evaluates its last checkpoint."""
    from lightning.pytorch.trainer.states import TrainerFn

    from lightning_modules.skillmix_eval import SkillMixEvalCallback
    from skillmix.compare import compare
    from skillmix.evaluation.store import step_folder

    log_dir = trainer.log_dir  # a collective under DDP/FSDP: every rank asks
    if not trainer.is_global_zero or log_dir is None:
        return
    evaluation = next((c for c in trainer.callbacks if isinstance(c, SkillMixEvalCallback)), None)
    if evaluation is not None and evaluation.context is not None:
        output_dir = evaluation.context.output_dir
        if trainer.state.fn == TrainerFn.VALIDATING:
            for step in sorted(evaluation.evaluated_steps):
                compare([step_folder(output_dir, step)])
        shown = output_dir.parent if output_dir == Path(log_dir) / "skillmix_eval" else output_dir
        sys.stdout.write(f"SKILL-MIX results of this run: python cli.py compare {shown}\n")
        return
    last = Path(log_dir) / "checkpoints" / "last.ckpt"
    if trainer.state.fn == TrainerFn.FITTING and last.exists():
        given = " ".join(f"--config {config}" for config in configs)
        sys.stdout.write(
            f"Checkpoints: {last.parent}. Evaluate the last one on SKILL-MIX (needs a grader key):\n"
            f"  python cli.py validate {given} --config configs/eval/skillmix_small.yaml --ckpt_path {last}\n"
        )


def main(argv: list[str] | None = None) -> None:
    from skillmix.errors import InputError

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return
    try:
        if argv[0] in ("test", "predict"):
            raise InputError(f"`{argv[0]}` is not supported (the model has no {argv[0]} step). Fix: validate")
        if argv[0] not in (*TRAINER_COMMANDS, *PROJECT_COMMANDS):
            raise InputError(f"unknown command {argv[0]!r}. Fix: one of these.\n\n{usage()}")
        if argv[0] in PROJECT_COMMANDS:
            run_project_command(argv[0], argv[1:])
        else:
            run_trainer_cli(argv)
    except InputError as error:  # the message names the file/field and the fix: no traceback needed
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
