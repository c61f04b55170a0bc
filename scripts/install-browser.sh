#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests
# (bins/sentry/tests/it/browser.rs), from Debian's packages.
#
#   bash scripts/install-browser.sh
#
# Does nothing when both are there already.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "ok: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
echo "installed: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1)"
