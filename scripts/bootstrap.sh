#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment .venv with uv, tox and tox-uv.
#   scripts/bootstrap.sh            tooling only (what the test command needs)
#   scripts/bootstrap.sh --app      also devstack-core (with Granian) and all six plugins, editable
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=$ROOT/.venv
PYTHON=${DEVSTACK_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -x $VENV/bin/uv ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
uv_install() { "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" "$@"; }
uv_install "tox>=4.20" "tox-uv>=1.11"
if [[ ${1:-} == --app ]]; then
  args=(-e "$ROOT/core[granian]")
  for plugin in vault postgres mysql mongodb redis rabbitmq; do
    args+=(-e "$ROOT/plugins/$plugin")
  done
  uv_install "${args[@]}"
fi
