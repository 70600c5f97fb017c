#!/usr/bin/env bash
# Makes sure the real Alertmanager and Prometheus that the event-source tests start are installed,
# installing Debian's packages (prometheus-alertmanager, prometheus) with apt-get when they are
# missing, and prints their paths as KHOOK_ALERTMANAGER=… and KHOOK_PROMETHEUS=… lines.
#
# The tests find the binaries through those variables or on PATH; they start them on free loopback
# ports with their own configuration, so the packages' services are never used (and not started:
# policy-rc.d refuses it while installing).
set -euo pipefail

log() { echo "alerting: $*" >&2; }

policy=/usr/sbin/policy-rc.d
created_policy=""
cleanup() { if [[ -n $created_policy ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

find_alertmanager() { command -v prometheus-alertmanager || command -v alertmanager || true; }
find_prometheus() { command -v prometheus || true; }

install_packages() {
  local apt=(apt-get)
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "not root and no sudo: install $* yourself"; exit 1; }
    apt=(sudo apt-get)
  fi
  log "installing $* with apt-get"
  # Package services must not start: tests run their own instances on free ports. A policy-rc.d
  # that exits 101 tells invoke-rc.d so; it is removed again afterwards.
  if [[ ! -e $policy && $(id -u) -eq 0 ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install -y --no-install-recommends "$@" >&2; then
    log "install failed; refreshing the package lists and trying again"
    "${apt[@]}" update >&2
    "${apt[@]}" install -y --no-install-recommends "$@" >&2
  fi
}

missing=()
[[ -n $(find_alertmanager) ]] || missing+=(prometheus-alertmanager)
[[ -n $(find_prometheus) ]] || missing+=(prometheus)
if ((${#missing[@]})); then
  install_packages "${missing[@]}"
fi

am=$(find_alertmanager)
prom=$(find_prometheus)
[[ -n $am ]] || { log "Alertmanager not found after installing prometheus-alertmanager"; exit 1; }
[[ -n $prom ]] || { log "Prometheus not found after installing prometheus"; exit 1; }
echo "KHOOK_ALERTMANAGER=$am"
echo "KHOOK_PROMETHEUS=$prom"
