#!/usr/bin/env bash
# One-time (idempotent) set-up: a virtual environment in .venv with the project and its dev tools.
# torch 2.13 comes first, from PyTorch's CPU index by default: on a plain package index the Linux wheel of
# torch is the CUDA build, which pulls several GB of NVIDIA libraries. On a GPU machine pick a CUDA index:
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash scripts/setup.sh
# (or install the torch build of your choice into .venv first: an installed torch is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
.venv/bin/python -c "import torch" 2>/dev/null ||
    .venv/bin/python -m pip install -q "torch==2.13.0" --index-url "$TORCH_INDEX"
.venv/bin/python -m pip install -q -e ".[dev]"
