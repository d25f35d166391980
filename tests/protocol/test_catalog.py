"""Catalog loaders: the official files as they are, and clear errors for malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.catalog import CatalogError, canonical_category, load_catalog, load_skills, load_topics

from .conftest import REFERENCE_DIR, requires_reference

HEADER = "category,skill,definition,example,comments,status,added by\n"


def _write(tmp_path: Path, text: str, name: str = "skills.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@requires_reference
def test_official_files_load_as_they_are() -> None:
    catalog = load_catalog(REFERENCE_DIR / "skills.csv", REFERENCE_DIR / "topics.txt")
    assert len(catalog.skills) == 10
    assert catalog.topics[:3] == ("Sewing", "Dueling", "The Ottoman Empire")
    assert len(catalog.topics) == 10
    loaded = catalog.skill("complex question (loaded question with implicit assumption )")
    assert loaded.category == "rhetorical"
    # Kept byte for byte (the trailing space shows up in the reference prompts as a double space).
    assert catalog.skill("accident (fallacy)").definition.endswith("is ignored. ")
    assert catalog.skill("emotional self regulation").category == "theory of mind"  # "theory of the mind"
    assert catalog.skill("folk physics (common knowledge physics)").category == "physical knowledge"
    assert [s.name for s in catalog.in_categories(["literary", "Rhetorical"])] == [
        "accident (fallacy)",
        "complex question (loaded question with implicit assumption )",
        "red herring",
        "metaphor",
    ]


def test_packaged_catalog_loads_when_present() -> None:
    packaged = Path(__file__).resolve().parents[2] / "skillmix" / "data" / "skills.csv"
    if not packaged.is_file():
        pytest.skip("the packaged catalog has not landed yet")
    catalog = load_catalog()
    assert len(catalog.skills) >= 100
    assert len(catalog.topics) >= 100


def test_unknown_skill_names_the_near_miss(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "literary,Metaphor,d.,e.,,,\n")
    catalog = load_catalog(path, _write(tmp_path, "Knots\n", "topics.txt"))
    with pytest.raises(KeyError, match="Did you mean 'Metaphor'"):
        catalog.skill("metaphor ")
    with pytest.raises(KeyError, match="Unknown skill 'simile'"):
        catalog.skill("simile")


def test_draft_statuses_are_skipped(tmp_path: Path) -> None:
    rows = [
        "literary,metaphor,d.,e.,,keep,",
        "literary,simile,d.,e.,,remove,",
        "literary,irony,d.,e.,,maybe,",
    ]
    text = HEADER + "\n".join(rows) + "\n"
    assert [s.name for s in load_skills(_write(tmp_path, text))] == ["metaphor"]


METAPHOR = "literary,metaphor,d.,e.,,,\n"
MALFORMED_SKILLS = {
    "missing column": (
        "category,skill,definition\nliterary,metaphor,d.\n",
        r"header: missing column\(s\) example .*Fix: the first line",
    ),
    "duplicate": (
        HEADER + METAPHOR + "literary,Metaphor,d2.,e2.,,,\n",
        r"row 2 \(line 3\): duplicate skill 'Metaphor' \(first defined in row 1\)",
    ),
    "empty definition": (
        HEADER + METAPHOR + "literary,simile,  ,e.,,,\n",
        r"row 2 \(line 3\) \(skill 'simile'\): empty 'definition'. Fix",
    ),
    "empty example after a two-line record": (
        HEADER + 'literary,metaphor,"two\nlines",e.,,,\nliterary,simile,d.,,,,\n',
        r"row 2 \(line 4\) \(skill 'simile'\): empty 'example'",
    ),
    "unknown category": (
        HEADER + "poetry,metaphor,d.,e.,,,\n",
        r"row 1 \(line 2\) \(skill 'metaphor'\): unknown category 'poetry'; use one of: literary, "
        r".*Fix: correct the 'category'",
    ),
    "empty name": (HEADER + ",,d.,e.,,,\n", r"row 1 \(line 2\): empty 'skill' column"),
    "no rows": (HEADER, r"no usable skills"),
}


@pytest.mark.parametrize(("text", "message"), MALFORMED_SKILLS.values(), ids=MALFORMED_SKILLS.keys())
def test_malformed_skills_files_name_file_row_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError, match=message) as error:
        load_skills(path)
    assert str(path) in str(error.value)


def test_topics_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"line 3: duplicate topic 'knots' \(first on line 1\)"):
        load_topics(_write(tmp_path, "Knots\n\nknots\n", "topics.txt"))
    with pytest.raises(CatalogError, match="no topics"):
        load_topics(_write(tmp_path, "\n \n", "topics.txt"))
    with pytest.raises(CatalogError, match="topics file not found"):
        load_topics(tmp_path / "missing.txt")
    assert load_topics(_write(tmp_path, "Knots\r\n  Sewing \n", "topics.txt")) == ("Knots", "Sewing")


def test_missing_skills_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="skills file not found"):
        load_catalog(tmp_path / "nope.csv", tmp_path / "topics.txt")


def test_category_aliases() -> None:
    assert canonical_category("Theory of the  Mind") == "theory of mind"
    with pytest.raises(ValueError, match="unknown category"):
        canonical_category("")
