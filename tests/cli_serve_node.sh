#!/usr/bin/env bash
# `frugal serve` with real clients: the official `openai` npm client (a streamed chat)
# and the chat page in headless Chromium driven by playwright-core (tests/serve/*.test.mjs).
# Needs node and npm (skipped without them) and the packages of tests/serve/package-lock.json
# (scripts/test.sh runs `npm ci` there; done here too when they are missing). The page's
# screenshot goes to $FG_SCREENSHOT, by default beside the binary in the build tree;
# FG_SCREENSHOT=docs/serve.png refreshes the one kept in the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${FG_BIN:?}" "${FG_TEST_MODELS:?}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "cli_serve_node: skipped: node and npm are not installed"
  exit 0
fi
cd "$here/serve"
if [ ! -d node_modules/openai ] || [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
export FG_SCREENSHOT="${FG_SCREENSHOT:-$(dirname "$FG_BIN")/serve.png}"
exec node --test --test-concurrency=1 openai.test.mjs web.test.mjs
