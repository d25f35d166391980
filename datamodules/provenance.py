"""What an evaluation needs to know about the training files: the split they were generated with, and the
(skills, topic) combinations they hold.

`cli.py generate` writes `splits.json` beside its D(k) files and stamps every record with the split's
fingerprint (`split`). Reading both back ties the evaluation's held-out pools to the data actually trained
on: a split that differs from the data's is an error naming both files, never a silent overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datamodules.dk_files import json_lines
from skillmix.errors import InputError
from skillmix.splits import Splits

SPLITS_FILE = "splits.json"
Combination = tuple[tuple[str, ...], str]
"""(skills sorted, topic): a combination's identity, as `skillmix.graded.GradedGeneration.combination`."""


class SplitMismatchError(InputError):
    """Training data and evaluation (or two training files) disagree about the split."""


@dataclass
class TrainingData:
    split: Splits | None = None
    split_file: Path | None = None
    """The `splits.json` the split was read from."""
    combinations: set[Combination] = field(default_factory=set)


def read_training_data(files: Sequence[str | Path]) -> TrainingData:
    """The split and the combinations of D(k) `files`; raises `SplitMismatchError` when they disagree."""
    data = TrainingData()
    for path in map(Path, files):
        fingerprints: set[str] = set()
        for _, record in json_lines(path):
            if isinstance(record, dict):
                data.combinations.add((tuple(sorted(record.get("skills", []))), str(record.get("topic"))))
                if record.get("split") is not None:
                    fingerprints.add(str(record["split"]))
        _add_split(data, path, fingerprints)
    return data


def _add_split(data: TrainingData, path: Path, fingerprints: set[str]) -> None:
    sidecar = path.parent / SPLITS_FILE
    if len(fingerprints) > 1:
        raise SplitMismatchError(
            f"{path}: its records come from {len(fingerprints)} different splits "
            f"({', '.join(sorted(fingerprints))}). Fix: keep one generation run's records per file."
        )
    if not sidecar.is_file():
        if fingerprints:
            raise SplitMismatchError(
                f"{path}: generated with split {next(iter(fingerprints))}, but there is no {sidecar}. Fix: "
                "put the splits.json that `cli.py generate` wrote beside the file, or pass the evaluation's "
                "`splits`."
            )
        return
    splits = Splits.load(sidecar)
    if fingerprints and fingerprints != {splits.fingerprint}:
        raise SplitMismatchError(
            f"{path}: generated with split {next(iter(fingerprints))}, but {sidecar} holds split "
            f"{splits.fingerprint}. Fix: restore the splits.json generated with {path.name}."
        )
    if data.split is not None and data.split != splits:
        raise SplitMismatchError(
            f"the training files use two splits: {data.split_file} and {sidecar}. Fix: generate every D(k) "
            f"file with one split (`cli.py generate --splits {data.split_file}`)."
        )
    data.split, data.split_file = splits, sidecar
