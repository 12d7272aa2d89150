#!/usr/bin/env bash
# Prometheus for integration tests and local dashboards, from Debian's package.
#
#   scripts/prometheus.sh install   install `prometheus` and `promtool` unless already on PATH
#
# The package's service is not started; tests run the binary themselves on loopback
# (tests/services.py: PrometheusServer).
set -euo pipefail

case "${1:-}" in
    install) exec "$(dirname "$0")/debian-package.sh" prometheus prometheus promtool ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
