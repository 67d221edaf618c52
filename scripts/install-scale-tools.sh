#!/usr/bin/env bash
# The programs the multi-instance test (tox env `scale`, tests/scale/) runs next to
# devstack: HAProxy in front of three instances, Prometheus scraping them. Both come from
# Debian's packages. Quick and silent when both are already installed; otherwise, as
# root: apt-get update, then apt-get install -y haproxy prometheus. The packages'
# services are not started (the test starts its own, on its own ports).
#   scripts/install-scale-tools.sh
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
  printf 'ERROR: %s not installed; run as root: apt-get update && apt-get install -y haproxy prometheus\n' \
    "${missing[*]}" >&2
  exit 1
fi

# invoke-rc.d asks policy-rc.d whether a package may start its service: 101 says no.
# Put one in place only for the duration of the install, and only when there is none.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
  trap 'rm -f "$POLICY"' EXIT
fi

printf 'installing %s (Debian packages, for the scale test)\n' "${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# another apt run on the machine holds the lock for a while: wait for it, do not fail
apt_options=(-q -o DPkg::Lock::Timeout=300)
apt-get "${apt_options[@]}" update >/dev/null
apt-get "${apt_options[@]}" install -y --no-install-recommends haproxy prometheus >/dev/null
command -v haproxy >/dev/null && command -v prometheus >/dev/null
