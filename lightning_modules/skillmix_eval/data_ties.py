"""What ties an evaluation to the data the model was trained on: the split (the training data's, unless a
`splits` file is given, which must then be the same) and the training combinations (reported, or excluded).
"""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch import Trainer

from datamodules.provenance import SplitMismatchError, TrainingData, read_training_data
from skillmix.catalog import Catalog
from skillmix.splits import Splits, make_splits

log = logging.getLogger(__name__)


def training_data(trainer: Trainer) -> TrainingData:
    """Split and combinations of the datamodule's D(k) files (nothing known without a SkillMixDataModule)."""
    sources = getattr(getattr(trainer, "datamodule", None), "sources", None) or []
    return read_training_data([Path(source.path) for source in sources])


def evaluation_splits(
    requested: str | None, training: TrainingData, catalog: Catalog, split_seed: int
) -> Splits:
    """`requested` if given (it must equal the training data's split), else the training data's split,
    else one made from the catalog with `split_seed`."""
    if requested:
        chosen = Splits.load(requested)
        if training.split is not None and chosen != training.split:
            raise SplitMismatchError(
                f"splits {requested} is not the split the training data was generated with "
                f"({training.split_file}): held-out skills or topics would overlap training ones. Fix: leave "
                f"`splits` unset to use the training data's split, or pass `splits: {training.split_file}`."
            )
        return chosen
    if training.split is not None:
        log.info("SKILL-MIX evaluation uses the training data's split, %s", training.split_file)
        return training.split
    return make_splits(catalog, seed=split_seed)
