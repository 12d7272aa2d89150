#!/usr/bin/env bash
# Debian packages the tests need, installed once.
#
#   scripts/debian-package.sh PACKAGE COMMAND...   apt-get install PACKAGE unless every COMMAND is
#                                                  already on PATH
#
# Used by scripts/prometheus.sh (prometheus, promtool) and scripts/chromium.sh (chromium).
set -euo pipefail

log() { echo "debian-package.sh: $*" >&2; }

[[ $# -ge 2 ]] || { echo "usage: $0 PACKAGE COMMAND..." >&2; exit 2; }
package=$1
shift
missing=0
for command in "$@"; do
    command -v "$command" >/dev/null || missing=1
done
if [[ $missing -eq 0 ]]; then
    log "$package already installed: $("$1" --version 2>/dev/null | head -n 1)"
    exit 0
fi
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { log "not root and no sudo: cannot apt-get install $package"; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; the install alone would then find nothing.
if ! apt-cache show "$package" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null
log "$package installed: $("$1" --version 2>/dev/null | head -n 1)"
