"""A split's fingerprint (saved and checked), and combinations drawn around an excluded set."""

from __future__ import annotations

import json

import pytest

from skillmix.catalog import load_catalog
from skillmix.combinations import sample_combinations
from skillmix.splits import Splits, SplitsError, make_splits


def test_the_fingerprint_is_saved_and_an_edited_file_is_refused(tmp_path) -> None:
    catalog = load_catalog()
    splits = make_splits(catalog, seed=0)
    assert (
        splits.fingerprint == make_splits(catalog, seed=0).fingerprint != make_splits(catalog, 1).fingerprint
    )
    path = splits.save(tmp_path / "splits.json")
    assert json.loads(path.read_text())["fingerprint"] == splits.fingerprint
    assert Splits.load(path) == splits
    edited = json.loads(path.read_text())
    edited["train_topics"], edited["heldout_topics"] = edited["heldout_topics"], edited["train_topics"]
    path.write_text(json.dumps(edited))
    with pytest.raises(SplitsError, match="do not match its fingerprint"):
        Splits.load(path)


def test_excluded_combinations_are_never_drawn_and_the_rest_keep_their_order() -> None:
    skills, topics = [f"s{i}" for i in range(6)], ["a", "b", "c"]
    drawn = sample_combinations(skills, topics, 2, 20, seed=3)
    excluded = {c.key for c in drawn[5:8]}
    around = sample_combinations(skills, topics, 2, 20, seed=3, exclude=excluded)
    assert around[:5] == drawn[:5]  # the draws before the first excluded one are unchanged
    assert not excluded & {c.key for c in around} and len({c.key for c in around}) == 20
    everything = {c.key for c in sample_combinations(skills, topics, 2, 45, seed=0)}
    with pytest.raises(ValueError, match="only 42 exist"):
        sample_combinations(skills, topics, 2, 43, seed=0, exclude=set(list(everything)[:3]))
