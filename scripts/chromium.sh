#!/usr/bin/env bash
# Chromium for the report's screenshot test, from Debian's package.
#
#   scripts/chromium.sh install   install `chromium` unless already on PATH
#
# Only the headless browser is used: tests/integration/test_report_chromium.py renders the HTML
# report with `chromium --headless` and checks the screenshot and the DOM.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

cmd_install() {
    if command -v chromium >/dev/null; then
        log "already installed: $(chromium --version 2>/dev/null | head -n 1)"
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null || { log "not root and no sudo: cannot apt-get install"; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet; the install alone would then find nothing.
    if ! apt-cache show chromium >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
    log "installed: $(chromium --version 2>/dev/null | head -n 1)"
}

case "${1:-}" in
    install) cmd_install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
