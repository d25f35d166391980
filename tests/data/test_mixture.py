"""Mixtures: exact counts and weights, subsampling, validation hold-out, text share, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from datamodules.mixture import DataSource, Mixture, draw_mixture

SIZES = [100, 60, 40]  # pool positions: D(1) 0-99, D(2) 100-159, D(3) 160-199, then text chunks 200-249


def source_of(position: int) -> str:
    return "d1" if position < 100 else "d2" if position < 160 else "d3" if position < 200 else "text"


def test_counts_and_weights_give_exact_proportions():
    sources = [DataSource("d1", count=30), DataSource("d2", weight=0.5), DataSource("d3", weight=2.0)]
    mixture = draw_mixture(SIZES, sources, seed=1)
    assert Counter(map(source_of, mixture.train)) == {"d1": 30, "d2": 30, "d3": 80}
    assert mixture.train_per_source == [30, 30, 80]
    assert Counter(Counter(p for p in mixture.train if p >= 160).values()) == {2: 40}  # each D(3) twice
    assert len(set(p for p in mixture.train if p < 100)) == 30  # a count below the size never repeats


def test_same_seed_same_mixture_other_seed_other_mixture():
    sources = [DataSource("d1", count=50), DataSource("d2"), DataSource("d3")]

    def draw(seed: int) -> Mixture:
        return draw_mixture(
            SIZES, sources, text_size=50, text_ratio=0.2, subsample=80, val_examples=10, seed=seed
        )

    first, again, other = draw(7), draw(7), draw(8)
    assert first == again
    assert first.train != other.train and first.validation != other.validation


def test_validation_is_held_out_of_training():
    mixture = draw_mixture(
        SIZES, [DataSource("d1"), DataSource("d2"), DataSource("d3")], val_examples=20, seed=0
    )
    assert len(mixture.validation) == 20
    assert not set(mixture.validation) & set(mixture.train)
    assert sorted(mixture.train + mixture.validation) == list(range(200))


def test_subsample_then_text_ratio():
    mixture = draw_mixture(
        SIZES,
        [DataSource("d1"), DataSource("d2"), DataSource("d3")],
        50,
        text_ratio=0.2,
        subsample=80,
        seed=0,
    )
    drawn = Counter(map(source_of, mixture.train))
    assert drawn["text"] == mixture.text == 20  # 20 of 100 = 0.2
    assert drawn["d1"] + drawn["d2"] + drawn["d3"] == 80
    assert len(set(mixture.train)) == len(mixture.train)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subsample": 500}, "subsample"),
        ({"val_examples": 200}, "val_examples"),
        ({"text_ratio": 0.3}, "text corpus"),
        ({"text_ratio": 1.0, "text_size": 5}, "text_ratio"),
    ],
)
def test_impossible_requests_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_mixture(SIZES, [DataSource("d1"), DataSource("d2"), DataSource("d3")], **kwargs)
