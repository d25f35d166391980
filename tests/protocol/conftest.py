"""Shared fixtures: the real SKILL-MIX reference material in ../shared/skillmix-reference (tests only)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from skillmix.catalog import Catalog, load_catalog

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "skillmix-reference"

requires_reference = pytest.mark.skipif(
    not REFERENCE_DIR.is_dir(), reason=f"reference material not found at {REFERENCE_DIR}"
)


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(10**8)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def generation_record_files() -> list[Path]:
    return sorted(REFERENCE_DIR.glob("test/*/*/records.csv"))


def grading_record_files() -> list[Path]:
    return sorted(REFERENCE_DIR.glob("test/*/*/graded/*/records.csv"))


@pytest.fixture(scope="session")
def reference_catalog() -> Catalog:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference material not found at {REFERENCE_DIR}")
    return load_catalog(REFERENCE_DIR / "skills.csv", REFERENCE_DIR / "topics.txt")
