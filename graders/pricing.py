"""Price table (USD per million tokens) used to estimate what a run cost and to enforce a budget.

The defaults are the providers' public list prices for on-demand calls; provider Batch APIs bill half.
Prices change: override or extend them with a JSON or YAML file mapping a model id to
`{input: USD per 1M input tokens, output: USD per 1M output tokens}`. A model that is not in the table
has an unknown cost, never a cost of 0, unless it runs on this machine (an in-process model or a server on
loopback), which costs no API dollars. Every command words these two cases alike (`cost_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from graders.interface import Usage
from skillmix.errors import InputError

BATCH_DISCOUNT = 0.5
UNKNOWN_COST = "unknown (no list price)"
LOCAL_COST = "free (runs locally)"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def runs_locally(provider: str, base_url: str) -> bool:
    """An in-process Hugging Face model, or a server on this machine: no API bill."""
    return provider == "hf" or (urlparse(base_url).hostname or "") in _LOOPBACK_HOSTS


def cost_text(cost: float | None, *, local: bool = False, digits: int = 2, estimate: bool = False) -> str:
    """Dollars (an `estimate` as "~$1.20 at list prices"), or why there are none: the one wording for
    unpriced and local models."""
    if local and not cost:
        return LOCAL_COST
    if cost is None:
        return UNKNOWN_COST
    return f"~${cost:,.{digits}f} at list prices" if estimate else f"${cost:,.{digits}f}"


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        dollars = (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1e6
        return dollars * BATCH_DISCOUNT if batch else dollars


DEFAULT_PRICES: Mapping[str, Price] = {
    # OpenAI list prices; dated snapshots match the longest prefix (gpt-4-0613 -> gpt-4).
    "gpt-4": Price(30.0, 60.0),
    "gpt-4-32k": Price(60.0, 120.0),
    "gpt-4-1106-preview": Price(10.0, 30.0),
    "gpt-4-0125-preview": Price(10.0, 30.0),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-2024-05-13": Price(5.0, 15.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4.1-nano": Price(0.1, 0.4),
    "gpt-3.5-turbo": Price(0.5, 1.5),
    # Anthropic list prices.
    "claude-3-opus": Price(15.0, 75.0),
    "claude-3-sonnet": Price(3.0, 15.0),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-opus-4": Price(15.0, 75.0),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price] = DEFAULT_PRICES) -> None:
        self._prices = dict(prices)

    @classmethod
    def with_overrides(cls, path: str | Path | None) -> PriceTable:
        """The defaults, updated with the entries of a JSON/YAML file (None: the defaults alone)."""
        prices = dict(DEFAULT_PRICES)
        if path is not None:
            prices.update(_read_price_file(Path(path)))
        return cls(prices)

    def lookup(self, model: str) -> Price | None:
        """The exact model id's price, else the longest table entry that prefixes it."""
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.cost(usage, batch=batch)


def _read_price_file(path: Path) -> dict[str, Price]:
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of model id -> {{input: ..., output: ...}}")
    prices = {}
    for model, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise InputError(
                f"{path}: entry {model!r} must have exactly the fields 'input' and 'output' "
                f"(USD per million tokens), got {entry!r}"
            )
        prices[str(model)] = Price(float(entry["input"]), float(entry["output"]))
    return prices
