#!/usr/bin/env bash
# Prometheus for integration tests and local dashboards, from Debian's package.
#
#   scripts/prometheus.sh install   install `prometheus` and `promtool` unless already on PATH
#
# The package's service is not started; tests run the binary themselves on loopback
# (tests/services.py: PrometheusServer).
set -euo pipefail

log() { echo "prometheus.sh: $*" >&2; }

cmd_install() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        log "already installed: $(prometheus --version 2>&1 | head -n 1)"
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null || { log "not root and no sudo: cannot apt-get install"; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet; the install alone would then find nothing.
    if ! apt-cache show prometheus >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    log "installed: $(prometheus --version 2>&1 | head -n 1)"
}

case "${1:-}" in
    install) cmd_install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
