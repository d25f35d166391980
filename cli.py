"""skillmix-lightning command line.

Trainer runs (`fit`, `validate`, ...) go through LightningCLI; the project's other commands (`compare`,
`export`, ...) are plain functions whose docstrings jsonargparse turns into `--help`. Those are imported
lazily so that, for example, `compare` starts without importing torch.
"""

from __future__ import annotations

import importlib
import sys

PROJECT_COMMANDS: dict[str, str] = {
    "compare": "skillmix.compare:compare",
    "grade": "graders.grade_command:grade",
}
"""Command name -> "module:function" for commands that are not Trainer runs."""


def run_project_command(name: str, argv: list[str]) -> None:
    from jsonargparse import auto_cli

    module_name, function_name = PROJECT_COMMANDS[name].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    auto_cli(function, args=argv)


def run_trainer_cli(argv: list[str] | None = None) -> None:
    raise NotImplementedError("LightningCLI wiring lands with the training foundation")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PROJECT_COMMANDS:
        run_project_command(argv[0], argv[1:])
    else:
        run_trainer_cli(argv)


if __name__ == "__main__":
    main()
