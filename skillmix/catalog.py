"""Skills and topics: the vocabulary every SKILL-MIX prompt, split and score is built from.

Both our packaged catalog and a user's copy of the official one use the official SKILL-MIX file format:
`skills.csv` with the columns category, skill, definition, example, comments, status, added by (only the
first four and status are read), and `topics.txt` with one topic per line.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from skillmix.errors import InputError, UnknownNameError

logger = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = (
    "literary",
    "rhetorical",
    "reasoning",
    "logical",
    "theory of mind",
    "pragmatics",
    "common sense",
    "physical knowledge",
)
"""Canonical skill categories (the paper's seven, with common sense and physical knowledge kept apart)."""

CATEGORY_ALIASES: dict[str, str] = {
    "theory of the mind": "theory of mind",
    "common sense / physical knowledge": "physical knowledge",
    "commonsense": "common sense",
}
"""Spellings found in the official files (e.g. "theory of the mind"), mapped to a canonical category."""

REQUIRED_COLUMNS: tuple[str, ...] = ("category", "skill", "definition", "example")

EXCLUDED_STATUSES = frozenset({"remove", "in review", "maybe"})
"""Rows with these `status` values are drafts in the official file; the reference skips them too."""


class CatalogError(InputError):
    """A skills or topics file that cannot be used as it is; the message names file, row and fix."""


@dataclass(frozen=True)
class Skill:
    name: str
    category: str
    definition: str
    example: str


@dataclass(frozen=True)
class Catalog:
    skills: tuple[Skill, ...]
    topics: tuple[str, ...]

    def skill(self, name: str) -> Skill:
        for skill in self.skills:
            if skill.name == name:
                return skill
        close = [s.name for s in self.skills if s.name.strip().lower() == name.strip().lower()]
        hint = f" Did you mean {close[0]!r}?" if close else " Names are matched exactly, spaces included."
        raise UnknownNameError(
            f"Unknown skill {name!r}: not among the {len(self.skills)} catalog skills.{hint}"
        )

    def skills_named(self, names: Iterable[str]) -> tuple[Skill, ...]:
        return tuple(self.skill(name) for name in names)

    def in_categories(self, categories: Iterable[str]) -> tuple[Skill, ...]:
        wanted = {canonical_category(c) for c in categories}
        return tuple(skill for skill in self.skills if skill.category in wanted)


def canonical_category(category: str) -> str:
    """Lower-cased, alias-resolved category; raises ValueError for one we do not know."""
    key = " ".join(category.strip().lower().split())
    key = CATEGORY_ALIASES.get(key, key)
    if key not in CATEGORIES:
        raise InputError(f"unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
    return key


def load_catalog(skills_csv: str | Path | None = None, topics_txt: str | Path | None = None) -> Catalog:
    """Load skills and topics; None means the catalog packaged in `skillmix/data/`."""
    data = resources.files("skillmix") / "data"
    skills_path = Path(skills_csv) if skills_csv is not None else Path(str(data / "skills.csv"))
    topics_path = Path(topics_txt) if topics_txt is not None else Path(str(data / "topics.txt"))
    return Catalog(skills=load_skills(skills_path), topics=load_topics(topics_path))


def load_skills(path: Path) -> tuple[Skill, ...]:
    """Read an official-format `skills.csv`, skipping rows whose status marks them as drafts."""
    if not path.is_file():
        raise CatalogError(f"{path}: skills file not found. Fix: pass the path of an official skills.csv.")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise CatalogError(
                f"{path}, header: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns) or 'none'}). Fix: the first line must name the columns "
                f"{','.join(REQUIRED_COLUMNS)},comments,status,added by."
            )
        reader.fieldnames = columns
        skills: list[Skill] = []
        first_row_of: dict[str, int] = {}
        for record, row in enumerate(reader, start=1):
            where = f"{path}, row {record} (line {reader.line_num})"
            status = (row.get("status") or "").strip().lower()
            if status in EXCLUDED_STATUSES:
                logger.info("%s: skipping skill %r with status %r", where, row.get("skill"), status)
                continue
            skill = _skill_from_row(row, where)
            key = skill.name.lower()
            if key in first_row_of:
                raise CatalogError(
                    f"{where}: duplicate skill {skill.name!r} (first defined in row {first_row_of[key]}). "
                    "Fix: keep one row per skill, or mark the extra one with status 'remove'."
                )
            first_row_of[key] = record
            skills.append(skill)
    if not skills:
        raise CatalogError(f"{path}: no usable skills. Fix: add rows below the header line.")
    return tuple(skills)


def _skill_from_row(row: dict[str, str | None], where: str) -> Skill:
    name = (row.get("skill") or "").strip()
    if not name:
        raise CatalogError(f"{where}: empty 'skill' column. Fix: give the skill's standard name.")
    for column in ("definition", "example"):
        if not (row.get(column) or "").strip():
            raise CatalogError(
                f"{where} (skill {name!r}): empty {column!r}. Fix: write the skill's {column} in that column."
            )
    try:
        category = canonical_category(row.get("category") or "")
    except ValueError as error:
        message = f"{where} (skill {name!r}): {error}. Fix: correct the 'category' column."
        raise CatalogError(message) from None
    # Definitions and examples are kept byte for byte: the reference prompts render them unstripped.
    return Skill(name, category, definition=row["definition"] or "", example=row["example"] or "")


def load_topics(path: Path) -> tuple[str, ...]:
    """Read `topics.txt`: one topic per line, blank lines ignored."""
    if not path.is_file():
        raise CatalogError(f"{path}: topics file not found. Fix: pass a topics.txt with one topic a line.")
    topics: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        topic = line.strip()
        if not topic:
            continue
        if topic.lower() in first_line_of:
            raise CatalogError(
                f"{path}, line {number}: duplicate topic {topic!r} "
                f"(first on line {first_line_of[topic.lower()]}). Fix: delete one of the two lines."
            )
        first_line_of[topic.lower()] = number
        topics.append(topic)
    if not topics:
        raise CatalogError(f"{path}: no topics. Fix: write one topic per line.")
    return tuple(topics)
