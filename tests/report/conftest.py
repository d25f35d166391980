"""Evaluation outputs for the report tests: two steps of a synthetic run whose step-100 answers at k=2 are
hostile markup, under a run name that tries to close the data's <script> element."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.report.synthetic_outputs import HOSTILE_ANSWER, plain_answer, write_eval_outputs

REFERENCE_TEST = Path(__file__).resolve().parents[3] / "shared" / "skillmix-reference" / "test"
requires_reference = pytest.mark.skipif(
    not REFERENCE_TEST.is_dir(), reason=f"reference material not found at {REFERENCE_TEST}"
)
HOSTILE_RUN = "</script><script>window.__pwned = 3</script>"
STEPS = (0, 100)


def hostile_at_step_100_k2(rng: random.Random, step: int, k: int) -> str:
    return HOSTILE_ANSWER if (step, k) == (100, 2) else plain_answer(rng, step, k)


@pytest.fixture
def outputs(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """(the run's folder, its records): 2 steps x 2 settings x k=2,3 x 2 combinations, graded twice."""
    root = tmp_path / "run"
    records = write_eval_outputs(root, run=HOSTILE_RUN, steps=STEPS, answer=hostile_at_step_100_k2)
    return root, records
