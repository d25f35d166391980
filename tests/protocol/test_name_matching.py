"""The name penalty's two matching modes, and the catalog audit that chose the renamed skills."""

from __future__ import annotations

import pytest

from skillmix.catalog import load_catalog
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import ScoringOptions, score_generation
from skillmix.name_audit import catalog_hits, penalties, word_collisions
from skillmix.text_checks import named_skills


@pytest.mark.parametrize(
    ("answer", "name", "substring", "word"),
    [
        ("They punish the late.", "pun", True, False),
        ("A page of puns.", "pun", True, True),
        ("Two metaphors at sea.", "metaphor", True, True),
        ("A facsimile of the map.", "simile", True, False),
        ("Pure self-serving bias.", "self serving bias", False, True),
        ("It happened accidentally.", "accident (fallacy)", True, False),
        ("An Accident, surely.", "accident (fallacy)", True, True),
        ("Red herrings everywhere.", "red herring", True, True),
    ],
)
def test_substring_and_whole_word_matching(answer: str, name: str, substring: bool, word: bool) -> None:
    assert named_skills(answer, [name]) == [substring]
    assert named_skills(answer, [name], "word") == [word]


def test_whole_word_matching_is_a_scoring_option() -> None:
    skills = ("pun", "metaphor")
    generation = GradedGeneration(
        "m", "train", 2, skills, "Law", 1, "They punish the guilty.", (Grading((1,) * 5, None, "g"),)
    )
    assert score_generation(generation).full_marks == 0.0
    assert score_generation(generation, ScoringOptions(name_match="word")).full_marks == 1.0


def test_audit_counts_penalties_hits_and_word_collisions() -> None:
    answers = [(("pun", "metaphor"), "They punish with a metaphor."), (("irony",), "Irony, plainly.")]
    assert penalties(answers) == {"substring": 3, "word": 2}
    hits = catalog_hits([text for _, text in answers], ["pun", "irony", "zeugma"])
    assert hits["substring"] == {"pun": 1, "irony": 1} and hits["word"] == {"irony": 1}
    collisions = word_collisions(["pun", "metaphor", "zeugma"], ["punch", "puns", "metaphorical", "pun"])
    assert collisions == {"pun": ["punch"], "metaphor": ["metaphorical"]}


def test_the_packaged_catalog_avoids_the_everyday_names_it_could() -> None:
    names = {skill.name for skill in load_catalog().skills}
    assert {"pun", "imagery", "empathy", "inertia", "buoyancy"}.isdisjoint(names)
    assert {"paronomasia", "sensory imagery", "affective empathy"} <= names
    assert {"newton's first law (inertia)", "archimedes' principle (buoyancy)"} <= names
