"""Checks made on the graded text itself, not by the grader: its sentence count and explicit skill names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from skillmix.prompts import sentence_limit

# A sentence ends at ".", "!" or "?", possibly followed by closing quotes, then one space, possibly opening
# quotes, then a capital letter: the reference's rule, which undercounts on purpose rather than split "e.g.".
_SENTENCE_BREAK = re.compile(r"[.!?]['\"]* ['\"]*[A-Z]")
# The reference glues these titles to the next word first, so "Dr. Smith" is not a break.
_TITLE_BREAK = re.compile(r"(?:Mr|Mrs|Ms|Dr|Prof)\. ")


def count_sentences(text: str) -> int:
    """Sentences in `text` as the reference counts them (its `num_sentences_manual_in_student_answer`).

    Text without any break counts as one sentence, the empty text included, as in the reference.
    """
    without_titles = _TITLE_BREAK.sub(lambda match: match.group(0)[:-1], text)
    return len(_SENTENCE_BREAK.findall(without_titles)) + 1


def within_sentence_limit(text: str, k: int) -> bool:
    """The programmatic length point, at most max(1, k-1) sentences (reference: `true_sentence_lim_pt`)."""
    return count_sentences(text) <= sentence_limit(k)


def explicit_name(skill_name: str) -> str:
    """The part of a skill name whose appearance in an answer costs the point: cut at "(", lower-cased."""
    return skill_name.split("(")[0].strip().lower()


NameMatch = Literal["substring", "word"]
"""How a skill's name is found in an answer: "substring" (the reference: anywhere, so "pun" would fire on
"punish") or "word" (whole words, a plural "s"/"es" allowed and a hyphen read as a space: "metaphors" and
"self-serving bias" count, "punish" and "facsimile" do not)."""


def named_skills(answer: str, skill_names: Sequence[str], match: NameMatch = "substring") -> list[bool]:
    """Per skill: does the answer spell the skill's name out (case-insensitively)?"""
    names = [explicit_name(name) for name in skill_names]
    text = answer.lower()
    if match == "substring":
        return [bool(name) and name in text for name in names]
    text = text.replace("-", " ")
    return [bool(name) and _whole_word(name.replace("-", " ")).search(text) is not None for name in names]


def _whole_word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?:e?s)?(?!\w)")
