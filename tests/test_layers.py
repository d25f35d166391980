"""The layering holds by test: every module of every layer imports only its own layer or lower ones, and the
protocol layer (`skillmix/`) never imports torch, an LLM SDK or the training stack, even indirectly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("skillmix", "graders", "datamodules", "lightning_modules", "cli")
"""Lowest first: a module may import from its own layer and the ones before it."""
HEAVY_FOR_THE_PROTOCOL = ("torch", "openai", "anthropic", "lightning", "transformers", "datasets", "peft")
SLOW_TO_IMPORT = ("numpy", "scipy", "statsmodels", "matplotlib")
"""Allowed in the protocol layer only inside the functions that need them, so `compare` starts at once."""


def modules_of(layer: str) -> list[Path]:
    if layer == "cli":
        return [REPO / "cli.py"]
    return sorted(path for path in (REPO / layer).rglob("*.py") if "__pycache__" not in path.parts)


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every import in the file, including those inside functions (lazy imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_walk_sees_every_layer() -> None:
    counts = {layer: len(modules_of(layer)) for layer in LAYERS}
    assert all(count > 0 for count in counts.values()), counts
    assert counts["skillmix"] >= 20 and counts["lightning_modules"] >= 8


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for rank, layer in enumerate(LAYERS):
        higher = set(LAYERS[rank + 1 :])
        for path in modules_of(layer):
            for name in sorted(imported_packages(path) & higher):
                upward.append(f"{path.relative_to(REPO)} imports {name}")
    assert upward == []


def test_the_protocol_layer_imports_no_torch_and_no_sdks() -> None:
    offending = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in modules_of("skillmix")
        for name in sorted(imported_packages(path) & set(HEAVY_FOR_THE_PROTOCOL))
    ]
    assert offending == []


def test_importing_every_protocol_module_loads_no_torch_no_sdk_and_no_numeric_stack() -> None:
    names = [
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in modules_of("skillmix")
    ]
    forbidden = HEAVY_FOR_THE_PROTOCOL + SLOW_TO_IMPORT
    code = (
        f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert finished.stdout.strip() == "[]"
