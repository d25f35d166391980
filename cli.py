"""skillmix-lightning command line.

Trainer runs (`fit`, `validate`, ...) go through LightningCLI; the project's other commands (`compare`,
`export`, ...) are plain functions whose docstrings jsonargparse turns into `--help`. Those are imported
lazily so that, for example, `compare` starts without importing torch.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

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
    else:
        auto_cli(function, args=argv)


DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"
"""What `fit` and `validate` run when no `--config` is given: the offline CPU default."""


def run_trainer_cli(argv: list[str] | None = None) -> None:
    from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

    from datamodules.skillmix_datamodule import SkillMixDataModule
    from lightning_modules.causal_lm import CausalLMModule

    class SkillMixCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            # the datamodule renders examples with the model's own tokenizer and chat template
            parser.link_arguments("model.model_name_or_path", "data.tokenizer")

        def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
            # `args` is sys.argv with the default config inserted: no "args and sys.argv both given" warning
            assert isinstance(args, list)
            self.config = parser.parse_args(args)

    argv = list(sys.argv[1:] if argv is None else argv)
    # Only without a --config: as a parser default it would leak its CPU settings into every other config.
    if argv[:1] in (["fit"], ["validate"]) and not any(
        a in ("-c", "--config") or a.startswith("--config=") for a in argv
    ):
        argv[1:1] = ["--config", str(DEFAULT_CONFIG)]
    SkillMixCLI(CausalLMModule, SkillMixDataModule, args=argv, save_config_kwargs={"overwrite": True})


def main(argv: list[str] | None = None) -> None:
    from skillmix.errors import InputError

    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in PROJECT_COMMANDS:
            run_project_command(argv[0], argv[1:])
        else:
            run_trainer_cli(argv)
    except InputError as error:  # the message names the file/field and the fix: no traceback needed
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
