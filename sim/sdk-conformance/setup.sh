#!/usr/bin/env bash
# Make the Python virtual environment the SDK conformance test (sim/tests/sdk_conformance.rs)
# runs: the official Azure SDKs pinned in requirements.txt, installed from PyPI.
# Idempotent: does nothing when the venv already holds exactly these pins.
# Usage: sim/sdk-conformance/setup.sh [VENV_DIR]   (default: $FAILBACK_SDK_VENV, else
# sim/sdk-conformance/.venv). Needs python3 with the venv module (Debian: python3-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-${FAILBACK_SDK_VENV:-$here/.venv}}"
req="$here/requirements.txt"
stamp="$venv/.failback-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    echo "sdk-conformance: $venv is up to date"
    exit 0
fi
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "sdk-conformance: $python not found" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" \
        || { echo "sdk-conformance: cannot create a venv at $venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "sdk-conformance: $venv ready"
