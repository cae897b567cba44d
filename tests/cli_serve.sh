#!/usr/bin/env bash
# `frugal serve` end to end: the real server on loopback ports with the tiny synthetic
# models (tests/serve/serve_test.py: API shapes, greedy goldens, errors, queue, disconnects,
# 50 concurrent clients, budget, graceful shutdown). Needs python3 (standard library only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${FG_BIN:?}" "${FG_TEST_MODELS:?}" "${FG_TEST_DATA:?}"
if ! command -v python3 >/dev/null; then
  echo "cli_serve: python3 is needed for the server tests" >&2
  exit 1
fi
exec python3 "$here/serve/serve_test.py" "$@"
