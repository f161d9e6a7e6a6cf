#!/usr/bin/env bash
# The console's browser test: playwright-core into the build tree (npm ci,
# once per lock file), then browser.mjs against Debian's chromium.
# Usage: run_browser.sh MIDGE_BINARY BUILD_DIR OUTPUT_DIR [--screenshot PNG]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MIDGE="$1"
NPM_DIR="$2/console-npm"
OUT="$3"
shift 3
for tool in node "${MIDGE_CHROMIUM:-/usr/bin/chromium}"; do
    command -v "$tool" >/dev/null || { echo "run_browser: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done
"$HERE/npm_ci.sh" "$NPM_DIR"
exec node "$HERE/browser.mjs" "$MIDGE" "$NPM_DIR" "$OUT" "$@"
