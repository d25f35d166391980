#!/usr/bin/env bash
# One-time (idempotent) set-up: a virtual environment in .venv with the project and its dev tools.
# torch is pinned first so that pip takes the 2.13 CPU build instead of pulling a multi-GB CUDA build;
# on a GPU machine install the CUDA build of your choice before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
