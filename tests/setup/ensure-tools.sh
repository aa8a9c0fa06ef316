#!/usr/bin/env bash
# Make sure the programs the test suite runs for real are installed: Prometheus and promtool (Debian
# package `prometheus`) for the observability tests. `make test` calls this so that a fresh machine
# needs nothing installed by hand; where it cannot install (not root, no sudo, no apt-get) it stops and
# says exactly what to run.
set -euo pipefail

missing=()
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "make test: ${missing[*]} not found; installing the Debian package prometheus (prometheus, promtool)"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make test: no apt-get here. Install Prometheus 2.x so that 'prometheus' and 'promtool' are on PATH" >&2
    echo "           (your system's 'prometheus' package, or the release archive), then run make test again." >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "make test: installing needs root. Run this once, then make test again:" >&2
    echo "           sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
# No recommends: the node exporter and friends are not needed. The package's service is not started in
# a container without an init system, and the tests start their own server anyway.
"${as_root[@]}" apt-get install -y -q --no-install-recommends prometheus
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "make test: apt-get installed prometheus but '$tool' is still not on PATH ($PATH)" >&2
        exit 1
    }
done
