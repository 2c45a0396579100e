#!/bin/sh
# Installs the browser test's only dependency (playwright-core; it never downloads a browser:
# the test drives the system Chromium). Does nothing when node_modules is already there.
set -eu
cd "$(dirname "$0")"
if [ -d node_modules/playwright-core ]; then
  exit 0
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
