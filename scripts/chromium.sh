#!/usr/bin/env bash
# Chromium for the report's screenshot test, from Debian's package.
#
#   scripts/chromium.sh install   install `chromium` unless already on PATH
#
# Only the headless browser is used: tests/integration/test_report_chromium.py renders the HTML
# report with `chromium --headless` and checks the screenshot and the DOM.
set -euo pipefail

case "${1:-}" in
    install) exec "$(dirname "$0")/debian-package.sh" chromium chromium ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
