"""The docs stand on their own: they name no file outside the repository and no tracker item, and every
link to a file of the repository leads to one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
OUTSIDE = re.compile(r"(?<![\w.])\.\./[\w.-]+|/work/|PAPER\.md|DESIGN\.md|\bissues? #?\d+", re.IGNORECASE)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_a_doc_names_nothing_outside_the_repository(doc: Path) -> None:
    found = [
        f"{doc.name}:{number}: {match.group(0)}"
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        for match in OUTSIDE.finditer(LINK.sub("]()", line))  # links: checked by the test below
    ]
    assert found == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file_of_the_repository(doc: Path) -> None:
    targets = [t for t in LINK.findall(doc.read_text(encoding="utf-8")) if "://" not in t]
    broken = [t for t in targets if not (doc.parent / t).resolve().is_relative_to(REPO)]
    broken += [t for t in targets if not (doc.parent / t).exists()]
    assert broken == []


def test_the_checks_find_what_they_look_for() -> None:
    assert OUTSIDE.search("see ../shared/skillmix-reference/test") and OUTSIDE.search("PAPER.md's table")
    assert OUTSIDE.search("(issue 8)") and not OUTSIDE.search("runs/.../last.ckpt and docs/data.md")
    assert LINK.findall("[a](docs/data.md#how) [b](https://x.org)") == ["docs/data.md", "https://x.org"]
