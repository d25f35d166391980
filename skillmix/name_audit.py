"""How often the explicit-name penalty fires, and on which catalog names, under each matching mode.

The penalty's test is the reference's: a skill's name (cut at "(") anywhere in the lower-cased answer. A
short everyday name then fires on innocent words ("pun" in "punish", "simile" in "facsimile"); the audit
finds such names and counts what each mode (`skillmix.text_checks.NameMatch`) would take:

    python scripts/audit_skill_names.py datamodules/sample_data/skillmix_sample.jsonl [REFERENCE_DIR] \
        [--words WORDS.txt]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import get_args

from skillmix.text_checks import NameMatch, explicit_name, named_skills

MODES: tuple[NameMatch, ...] = get_args(NameMatch)
Answer = tuple[Sequence[str], str]
"""(the combination's skills, the graded text)."""


def penalties(answers: Iterable[Answer]) -> dict[NameMatch, int]:
    """Per mode: how many (answer, own skill) pairs lose the skill point to the name penalty."""
    answers = list(answers)
    return {mode: sum(sum(named_skills(text, skills, mode)) for skills, text in answers) for mode in MODES}


def catalog_hits(texts: Iterable[str], skill_names: Sequence[str]) -> dict[NameMatch, Counter[str]]:
    """Per mode: for every catalog name, in how many of `texts` it would fire (whatever their skills)."""
    hits: dict[NameMatch, Counter[str]] = {mode: Counter() for mode in MODES}
    for text in texts:
        for mode in MODES:
            found = named_skills(text, skill_names, mode)
            hits[mode].update(name for name, hit in zip(skill_names, found, strict=True) if hit)
    return hits


def word_collisions(skill_names: Sequence[str], words: Iterable[str]) -> dict[str, list[str]]:
    """Names that are a substring of another word ("pun" in "punch"), with those words, in `words` order;
    the name itself and its plurals are not collisions."""
    words = [word.strip().lower() for word in words if word.strip()]
    collisions = {}
    for skill in skill_names:
        name = explicit_name(skill)
        own = {name, f"{name}s", f"{name}es"}
        found = [word for word in words if name in word and word not in own]
        if found:
            collisions[skill] = found
    return collisions
