"""Reader for the reference SKILL-MIX folder layout (`k{k}_s{seed}_v{prompt}_r{round}/{student}/...`)."""

from __future__ import annotations


def split_skills_column(value: str) -> list[str]:
    """Skill names from a reference `skills` column ("a, \\nb, \\nc"; graded files use ",  \\n")."""
    return [name.strip() for name in value.split(",") if name.strip()]
