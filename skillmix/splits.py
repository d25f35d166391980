"""Train / held-out splits of skills (by category) and topics (a seeded random half).

A split is saved as JSON next to every run that uses it and read back from there, so a run's evaluation
never depends on re-deriving the split from a catalog that may have changed since.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from skillmix.catalog import Catalog, canonical_category
from skillmix.errors import InputError

Setting = Literal["train", "heldout", "all"]
SETTINGS: tuple[Setting, ...] = ("train", "heldout", "all")
DEFAULT_TRAIN_CATEGORIES: tuple[str, ...] = ("literary", "rhetorical")
"""The paper trains on literary + rhetorical skills and holds out every other category."""


class SplitsError(InputError):
    """A splits file that cannot be used; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Splits:
    train_skills: tuple[str, ...]
    heldout_skills: tuple[str, ...]
    train_topics: tuple[str, ...]
    heldout_topics: tuple[str, ...]
    seed: int
    train_categories: tuple[str, ...]

    def skills(self, setting: Setting) -> tuple[str, ...]:
        return self._pick(setting, self.train_skills, self.heldout_skills)

    def topics(self, setting: Setting) -> tuple[str, ...]:
        return self._pick(setting, self.train_topics, self.heldout_topics)

    @staticmethod
    def _pick(setting: str, train: tuple[str, ...], heldout: tuple[str, ...]) -> tuple[str, ...]:
        if setting == "train":
            return train
        if setting == "heldout":
            return heldout
        if setting == "all":
            return train + heldout
        raise InputError(f"unknown setting {setting!r}; use one of: {', '.join(SETTINGS)}")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Splits:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SplitsError(
                f"{path}: splits file not found. Fix: pass the splits.json saved with the run."
            ) from None
        except json.JSONDecodeError as error:
            raise SplitsError(
                f"{path}: not valid JSON ({error}). Fix: restore the file the run saved."
            ) from None
        fields = cls.__dataclass_fields__
        missing = [name for name in fields if name not in data]
        if missing:
            raise SplitsError(
                f"{path}: missing field(s) {', '.join(missing)}. Fix: save it with Splits.save()."
            )
        try:
            values = {
                name: int(data[name]) if name == "seed" else tuple(map(str, data[name])) for name in fields
            }
        except (TypeError, ValueError) as error:
            raise SplitsError(
                f"{path}: malformed field ({error}). Fix: lists of names and an integer seed."
            ) from None
        return cls(**values)  # type: ignore[arg-type]

    def check_against(self, catalog: Catalog) -> None:
        """Raise if the split names skills or topics that `catalog` does not have."""
        known_skills = {skill.name for skill in catalog.skills}
        unknown = [s for s in self.train_skills + self.heldout_skills if s not in known_skills]
        unknown += [t for t in self.train_topics + self.heldout_topics if t not in set(catalog.topics)]
        if unknown:
            raise SplitsError(
                f"split names {len(unknown)} skill(s)/topic(s) missing from the catalog, e.g. {unknown[:3]}. "
                "Fix: load the catalog the split was made from, or make a new split."
            )


def make_splits(
    catalog: Catalog, seed: int = 0, train_categories: Sequence[str] = DEFAULT_TRAIN_CATEGORIES
) -> Splits:
    """Skills: train = `train_categories`, held-out = the rest. Topics: a seeded random half for training."""
    wanted = {canonical_category(category) for category in train_categories}
    train_skills = tuple(skill.name for skill in catalog.skills if skill.category in wanted)
    heldout_skills = tuple(skill.name for skill in catalog.skills if skill.category not in wanted)
    if not train_skills or not heldout_skills:
        side = "training" if not train_skills else "held-out"
        raise InputError(
            f"categories {sorted(wanted)} leave the {side} skill pool empty; choose other categories"
        )
    order = list(range(len(catalog.topics)))
    random.Random(seed).shuffle(order)
    train_indices = set(order[: len(order) // 2])
    return Splits(
        train_skills=train_skills,
        heldout_skills=heldout_skills,
        train_topics=tuple(t for i, t in enumerate(catalog.topics) if i in train_indices),
        heldout_topics=tuple(t for i, t in enumerate(catalog.topics) if i not in train_indices),
        seed=seed,
        train_categories=tuple(sorted(wanted)),
    )
