#!/usr/bin/env bash
# Create .venv in this checkout and install streammm with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: on this machine kind both wheels come from local disk (a CUDA build that runs on CPU).
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "streammm installed in .venv ($(.venv/bin/streammm --version))"
