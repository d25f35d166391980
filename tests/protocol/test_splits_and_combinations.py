"""Splits (by category, topics by a seeded half, JSON round trip) and seeded combination sampling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.catalog import Catalog, Skill
from skillmix.combinations import Combination, sample_combinations
from skillmix.splits import Splits, SplitsError, make_splits

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def catalog() -> Catalog:
    categories = ["literary", "rhetorical", "reasoning", "logical", "theory of mind", "pragmatics"] * 3
    skills = tuple(Skill(f"skill {i}", category, "d.", "e.") for i, category in enumerate(categories))
    return Catalog(skills=skills, topics=tuple(f"topic {i}" for i in range(11)))


def test_splits_by_category_and_a_seeded_half_of_topics(catalog: Catalog) -> None:
    splits = make_splits(catalog, seed=3)
    assert splits.train_skills == tuple(f"skill {i}" for i in (0, 1, 6, 7, 12, 13))
    assert len(splits.heldout_skills) == 12
    assert len(splits.train_topics) == 5 and len(splits.heldout_topics) == 6
    assert set(splits.train_topics).isdisjoint(splits.heldout_topics)
    assert splits.topics("all") == splits.train_topics + splits.heldout_topics
    assert make_splits(catalog, seed=3) == splits
    assert make_splits(catalog, seed=4).train_topics != splits.train_topics
    custom = make_splits(catalog, train_categories=["Logical"])
    assert custom.train_skills == ("skill 3", "skill 9", "skill 15") and custom.train_categories == (
        "logical",
    )
    with pytest.raises(ValueError, match="unknown setting 'test'"):
        splits.skills("test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leave the held-out skill pool empty"):
        make_splits(
            catalog,
            train_categories=[
                "literary",
                "rhetorical",
                "reasoning",
                "logical",
                "theory of mind",
                "pragmatics",
            ],
        )


def test_splits_round_trip_and_file_errors(catalog: Catalog, tmp_path: Path) -> None:
    splits = make_splits(catalog, seed=1)
    path = splits.save(tmp_path / "run" / "splits.json")
    assert Splits.load(path) == splits
    splits.check_against(catalog)
    with pytest.raises(SplitsError, match="missing from the catalog"):
        splits.check_against(Catalog(skills=catalog.skills[:3], topics=catalog.topics))
    with pytest.raises(SplitsError, match="splits file not found"):
        Splits.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(SplitsError, match="not valid JSON"):
        Splits.load(tmp_path / "bad.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["heldout_topics"]
    (tmp_path / "partial.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SplitsError, match=r"missing field\(s\) heldout_topics"):
        Splits.load(tmp_path / "partial.json")


SKILLS = [f"s{i}" for i in range(8)]
TOPICS = ["Knots", "Sewing", "Dueling"]


def test_combinations_are_distinct_valid_and_seeded() -> None:
    combinations = sample_combinations(SKILLS, TOPICS, k=3, n=40, seed=7)
    assert len({c.key for c in combinations}) == 40
    assert all(
        len(set(c.skills)) == 3 and set(c.skills) <= set(SKILLS) and c.topic in TOPICS for c in combinations
    )
    assert sample_combinations(SKILLS, TOPICS, k=3, n=40, seed=7) == combinations
    assert sample_combinations(SKILLS, TOPICS, k=3, n=40, seed=8) != combinations
    # The chosen skills' order is shuffled, not the pool's order.
    assert any(list(c.skills) != sorted(c.skills, key=SKILLS.index) for c in combinations)
    everything = sample_combinations(SKILLS[:3], TOPICS, k=2, n=9, seed=0)
    assert len({c.key for c in everything}) == 9


def test_combinations_are_the_same_in_another_process() -> None:
    code = (
        "import json; from skillmix.combinations import sample_combinations as s; "
        f"print(json.dumps([[list(c.skills), c.topic] for c in s({SKILLS!r}, {TOPICS!r}, 3, 10, 7)]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )  # fmt: skip
    here = [[list(c.skills), c.topic] for c in sample_combinations(SKILLS, TOPICS, 3, 10, 7)]
    assert json.loads(other.stdout) == here


def test_sampling_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"k=9 needs 1 <= k <= 8 \(the size of the skill pool\)"):
        sample_combinations(SKILLS, TOPICS, k=9, n=1, seed=0)
    with pytest.raises(ValueError, match="only 9 exist"):
        sample_combinations(SKILLS[:3], TOPICS, k=2, n=10, seed=0)
    with pytest.raises(ValueError, match="duplicate names"):
        sample_combinations(["a", "a"], TOPICS, k=1, n=1, seed=0)
    assert Combination(("a", "b"), "x").key == Combination(("b", "a"), "x").key
