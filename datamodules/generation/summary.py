"""The run summary: per k, how many combinations were generated and kept, why the rest were rejected, the
tokens the data set consumed and its list-price cost, and what this invocation itself did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from datamodules.generation.outputs import Record
from graders.client import ModelClient
from graders.interface import Usage


def data_summary(
    k: int, planned: int, records: Sequence[Record], teacher: ModelClient, grader: ModelClient
) -> dict[str, Any]:
    """Totals over every record of D(k), whichever invocation produced it (tokens as first paid for)."""
    kept = sum("reason" not in r for r in records)
    reasons = Counter(r["reason"] for r in records if "reason" in r)
    generated = len(records) - reasons["teacher_error"]
    usage = {"teacher": Usage(), "grader": Usage()}
    for record in records:
        for side, tokens in record.get("usage", {}).items():
            usage[side] += Usage(**tokens)
    costs = {
        "teacher": teacher.prices.cost(teacher.backend.model, usage["teacher"]),
        "grader": grader.prices.cost(grader.backend.model, usage["grader"]),
    }
    known = [c for c in costs.values() if c is not None]
    return {
        "k": k,
        "planned": planned,
        "finished": len(records) - reasons["teacher_error"] - reasons["grader_error"],
        "generated": generated,
        "kept": kept,
        "kept_rate": kept / generated if generated else None,
        "rejected": dict(sorted(reasons.items())),
        "teacher": teacher.identity,
        "grader": grader.identity,
        "tokens": {side: u.to_dict() for side, u in usage.items()},
        "estimated_cost_usd": costs | {"total": sum(known) if len(known) == len(costs) else None},
        "cost_note": "list prices of on-demand calls; requests answered through a Batch API cost half",
    }


def invocation_summary(
    stopped: str, teacher: ModelClient, grader: ModelClient, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """What this one command did: calls made, cache hits, retries, failures, spend."""
    if grader is teacher:
        clients = {"teacher_and_grader": teacher.stats.to_dict()}
    else:
        clients = {"teacher": teacher.stats.to_dict(), "grader": grader.stats.to_dict()}
    return {"stopped": stopped, **clients, **extra}
