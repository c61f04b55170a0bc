#!/usr/bin/env bash
# Installs the real Sentry SDKs that the end-to-end tests in
# bins/sentry/tests/it/sdk_{python,node}.rs drive:
#
#   bash scripts/install-sdks.sh
#
# - a Python venv at ${SDK_DIR:-$HOME/.cache/sentry-rs-sdks}/venv with
#   sentry-sdk (pinned below);
# - node_modules in bins/sentry/tests/sdk/node from its package-lock.json.
#
# Idempotent and fast when everything is already installed. Needs python3
# (with venv) and node/npm on PATH. Prints the venv's python path last; the
# tests find it there by default, or through SENTRY_TEST_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_SDK_VERSION=2.75.0
SDK_DIR=${SDK_DIR:-$HOME/.cache/sentry-rs-sdks}
VENV=$SDK_DIR/venv
PY=$VENV/bin/python
NODE_DIR=bins/sentry/tests/sdk/node

# Python: (re)create the venv only if it is missing or broken, install only
# if the pinned version is not the one present.
if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    mkdir -p "$SDK_DIR"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
fi
have=$("$PY" -c 'import importlib.metadata as m; print(m.version("sentry-sdk"))' 2>/dev/null || true)
if [ "$have" != "$PY_SDK_VERSION" ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check "sentry-sdk==$PY_SDK_VERSION" >&2
fi

# Node: `npm ci` only if node_modules does not match the lock file
# (npm writes node_modules/.package-lock.json on install).
if ! cmp -s "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.lock-stamp" 2>/dev/null; then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.lock-stamp"
fi

echo "$PY"
