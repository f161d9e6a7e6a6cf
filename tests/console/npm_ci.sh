#!/usr/bin/env bash
# Install the browser tests' one npm package (playwright-core, pinned by the
# committed package-lock.json) into DIR with `npm ci`, once per lock file:
# DIR/node_modules is kept while the lock file it came from is unchanged.
# playwright-core drives Debian's chromium; it downloads no browser.
# Usage: npm_ci.sh DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$1"
mkdir -p "$DIR"
if [ -d "$DIR/node_modules/playwright-core" ] && cmp -s "$HERE/package-lock.json" "$DIR/package-lock.json"; then
    echo "npm_ci: playwright-core already installed in $DIR"
    exit 0
fi
command -v npm >/dev/null || { echo "npm_ci: npm is missing (scripts/setup.sh installs it)"; exit 1; }
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
cd "$DIR"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
