"""One folder per training run, `<save_dir>/<name>/version_N/`, holding its `checkpoints/` and its
`skillmix_eval/`: the rule that picks the folder of a `fit` or a `validate`.

The CLI decides the folder once, from the command line and what is on disk, before the Trainer exists, and
gives it to the logger as its `version`: every rank (a torchrun rank or a re-launched Lightning process)
parses the same arguments before any of them can write, so all pick the same folder.

- `fit` starts a new folder (the next `version_N`), unless the latest one holds no checkpoints yet (a
  base-model `validate` made it): it then trains into that one, beside the base model's evaluation.
- `fit --ckpt_path last` resumes the latest run: its newest `last.ckpt`, in its own folder.
- `--ckpt_path <save_dir>/<name>/version_N/checkpoints/X.ckpt` (`fit` or `validate`) works in `version_N`.
- `validate` without a checkpoint (the base model, step 0) writes into the latest run (or `version_0`
  when there is none), where a later `validate` of that run's checkpoints lands too.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_VERSION = re.compile(r"version_(\d+)")


@dataclass(frozen=True)
class RunChoice:
    version: int
    ckpt_path: str | None


def versions(root: Path) -> list[int]:
    """The `version_N` numbers under `root`, ascending."""
    if not root.is_dir():
        return []
    found = (_VERSION.fullmatch(child.name) for child in root.iterdir() if child.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


def _has_checkpoints(run: Path) -> bool:
    return (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir())


def version_of(ckpt_path: str, root: Path) -> int | None:
    """N when `ckpt_path` lies in `root/version_N/checkpoints/`, else None (a checkpoint kept elsewhere)."""
    path = Path(ckpt_path).resolve()
    try:
        relative = path.relative_to(root.resolve())
    except ValueError:
        return None
    match = _VERSION.fullmatch(relative.parts[0]) if len(relative.parts) > 2 else None
    return int(match.group(1)) if match and relative.parts[1] == "checkpoints" else None


def choose_run(root: Path, subcommand: str, ckpt_path: str | None) -> RunChoice:
    """The run folder `version_N` under `root` (`<save_dir>/<name>`) and the checkpoint to load."""
    found = versions(root)
    if ckpt_path == "last" and subcommand == "fit":
        for version in reversed(found):
            last = root / f"version_{version}" / "checkpoints" / "last.ckpt"
            if last.exists():
                return RunChoice(version, str(last))
        return RunChoice(_new_fit_version(root, found), None)  # nothing to resume: a fresh run
    if ckpt_path and (owner := version_of(ckpt_path, root)) is not None:
        return RunChoice(owner, ckpt_path)
    if subcommand == "fit":
        return RunChoice(_new_fit_version(root, found), ckpt_path)
    return RunChoice(found[-1] if found else 0, ckpt_path)


def _new_fit_version(root: Path, found: list[int]) -> int:
    if found and not _has_checkpoints(root / f"version_{found[-1]}"):
        return found[-1]
    return found[-1] + 1 if found else 0


def remove_if_unused(run: Path) -> None:
    """Remove a run folder this command created when it holds no checkpoint and no evaluation (it failed)."""
    if not run.is_dir() or _has_checkpoints(run):
        return
    if (run / "skillmix_eval").is_dir() and any((run / "skillmix_eval").rglob("*.jsonl")):
        return
    shutil.rmtree(run)
