#!/usr/bin/env bash
# Headless Chromium for the docs-page test (core/tests/test_docs_offline.py), which checks that
# /docs and /redoc make no request outside the host. Debian's chromium package. Quick and
# silent when it is installed; otherwise, as root: apt-get update, then apt-get install -y
# chromium.
#   scripts/install-chromium.sh
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0

if [[ $(id -u) -ne 0 ]]; then
  printf 'ERROR: chromium not installed; run as root: apt-get update && apt-get install -y chromium\n' >&2
  exit 1
fi

printf 'installing chromium (Debian package, for the docs-page test)\n'
export DEBIAN_FRONTEND=noninteractive
# another apt run on the machine holds the lock for a while: wait for it, do not fail
apt_options=(-q -o DPkg::Lock::Timeout=300)
apt-get "${apt_options[@]}" update >/dev/null
apt-get "${apt_options[@]}" install -y --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
