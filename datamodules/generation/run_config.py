"""What defines a generation run's data, saved beside it so a resumed run cannot silently change it.

Resuming with a different teacher, grader, prompt template, keep rule, pool, seed, split or catalog would
mix two data sets in one file; `check_resumable` refuses with the differing fields instead. `n`, budgets,
concurrency and batch options may change between invocations (a larger `n` extends the plan).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datamodules.generation.outputs import OutputFiles
from skillmix.catalog import Catalog
from skillmix.errors import InputError
from skillmix.jsonl import write_json_atomically
from skillmix.splits import Splits, SplitsError, make_splits


class RunConfigError(InputError):
    """The output folder holds a run made with other settings."""


def catalog_fingerprint(catalog: Catalog) -> str:
    content = [[s.name, s.category, s.definition, s.example] for s in catalog.skills] + [list(catalog.topics)]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def resolve_splits(files: OutputFiles, catalog: Catalog, requested: Path | None, split_seed: int) -> Splits:
    """The split saved in the output folder, else `requested`, else a new one made with `split_seed`."""
    saved = Splits.load(files.splits) if files.splits.exists() else None
    chosen = Splits.load(requested) if requested is not None else saved or make_splits(catalog, split_seed)
    if saved is not None and chosen != saved:
        raise SplitsError(
            f"{files.splits} holds another split than {requested}. Fix: generate into a new output_dir, "
            "or drop --splits to keep using the saved one"
        )
    if requested is None and saved is not None and saved.seed != split_seed:
        raise SplitsError(
            f"{files.splits} was made with split_seed={saved.seed}, not {split_seed}. Fix: pass "
            f"--split_seed {saved.seed}, or generate into a new output_dir"
        )
    chosen.check_against(catalog)
    return chosen


def run_identity(
    *,
    k: int,
    seed: int,
    skill_pool: str,
    splits: Splits,
    catalog: Catalog,
    teacher: str,
    teacher_sampling: Any,
    grading: dict[str, Any],
    keep: Any,
) -> dict[str, Any]:
    return {
        "k": k,
        "seed": seed,
        "skill_pool": skill_pool,
        "split_seed": splits.seed,
        "train_categories": list(splits.train_categories),
        "catalog": catalog_fingerprint(catalog),
        "teacher": teacher,
        "teacher_sampling": asdict(teacher_sampling),
        "grading": grading,
        "keep": asdict(keep),
    }


def check_resumable(files: OutputFiles, identity: dict[str, Any]) -> None:
    if not files.run_config.exists():
        return
    saved = json.loads(files.run_config.read_text(encoding="utf-8"))["identity"]
    differing = sorted(key for key in set(saved) | set(identity) if saved.get(key) != identity.get(key))
    if differing:
        changes = "; ".join(f"{key}: {saved.get(key)!r} -> {identity.get(key)!r}" for key in differing)
        raise RunConfigError(
            f"{files.run_config}: this output folder holds D({files.k}) made with other settings "
            f"({changes}). Fix: use the saved settings to resume, or generate into a new output_dir"
        )


def save_run_config(files: OutputFiles, identity: dict[str, Any], n: int) -> None:
    write_json_atomically(files.run_config, {"identity": identity, "n": n})
