#!/usr/bin/env bash
# Create .venv in this checkout and install streammm with its test tools. Safe to run again.
# pip's output is kept in a temporary log and shown only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
log=$(mktemp "${TMPDIR:-/tmp}/streammm-setup.XXXXXX")
trap 'rm -f "$log"' EXIT

quietly() {  # run a step with its output in $log; on failure print it and stop
  if ! "$@" >"$log" 2>&1; then
    echo "tools/setup.sh: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

if [ ! -x .venv/bin/python ]; then
  quietly "$python" -m venv .venv
fi
quietly .venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: on this machine kind both wheels come from local disk (a CUDA build that runs on CPU).
quietly .venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
quietly .venv/bin/python -m pip install --quiet -e '.[test]'
echo "streammm installed in .venv ($(.venv/bin/streammm --version))"
