#!/usr/bin/env bash
# `frugal suite` from the command line: bad input gets a non-zero exit and one line
# "frugal: ..." on stderr; a suite whose models all fail to run still completes (exit 0)
# and says why for each. (The full run with verdicts and the schema is tests/test_suite.c.)
set -u
frugal=${FG_BIN:?} models=${FG_TEST_MODELS:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

expect_error() { # expect_error NAME CMD...
  local name=$1; shift
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines; lines=$(wc -l <"$tmp/err")
  if [ $rc -eq 0 ] || [ $rc -ge 124 ] || [ "$lines" -ne 1 ] || ! grep -q '^frugal: ' "$tmp/err"; then
    fail "$name: exit $rc, $lines stderr lines: $(head -2 "$tmp/err")"
  fi
}
q8=$models/qwen2-q256-q8_0.gguf
echo '{"models": ["a.gguf"], "reps": 0}' >"$tmp/bad-reps.json"
echo '{"models": ["a.gguf"], "colour": "red"}' >"$tmp/bad-field.json"
echo '{"models": [' >"$tmp/bad-json.json"
echo '{"models": ["a.gguf"], "fit": true}' >"$tmp/fit-no-limit.json"
echo '{"models": [{"path": "a.gguf", "quant": "q2"}]}' >"$tmp/bad-quant.json"

expect_error no-args "$frugal" suite
expect_error bad-limit "$frugal" suite "$q8" --mem-limit lots
expect_error zero-limit "$frugal" suite "$q8" --mem-limit 0
expect_error fit-no-limit "$frugal" suite "$q8" --fit
expect_error unknown-option "$frugal" suite "$q8" --frobnicate
expect_error bad-quant-opt "$frugal" suite "$q8" --quant q2
expect_error bad-timeout "$frugal" suite "$q8" --timeout -3
expect_error bad-reps-opt "$frugal" suite "$q8" -r 0
expect_error bad-reps "$frugal" suite "$tmp/bad-reps.json"
expect_error bad-field "$frugal" suite "$tmp/bad-field.json"
expect_error bad-json "$frugal" suite "$tmp/bad-json.json"
expect_error fit-no-limit-file "$frugal" suite "$tmp/fit-no-limit.json"
expect_error bad-quant "$frugal" suite "$tmp/bad-quant.json"
expect_error quant-with-file "$frugal" suite "$tmp/bad-reps.json" --quant q8_0
expect_error unwritable-out "$frugal" suite "$q8" --out /proc/frugal-suite-test
expect_error bad-bandwidth "$frugal" suite "$q8" --bandwidth fast
expect_error zero-bandwidth "$frugal" suite "$q8" --bandwidth 0

# models that cannot run: the suite still completes and reports each
timeout 120 "$frugal" suite "$tmp/none.gguf" "$tmp" --no-bandwidth -q --out "$tmp/r" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "suite of failing models: exit $rc: $(head -2 "$tmp/err")"
grep -q "missing" "$tmp/out" || fail "suite: no 'missing' verdict in the table"
grep -q "error" "$tmp/out" || fail "suite: no 'error' verdict for a directory that is not a model"
for f in report.json report.md report.csv report.html compare.svg; do
  [ -s "$tmp/r/$f" ] || fail "suite: $f not written"
done

# a given bandwidth reaches every model's bench (which then measures nothing itself).
# Cases named in FG_TEST_SKIP_cli_suite are skipped (scripts/test-arm.sh: a model that
# runs needs the suite to re-execute its own binary, which qemu-user cannot).
if [[ " ${FG_TEST_SKIP_cli_suite:-} " == *" suite-bandwidth "* ]]; then
  echo "SKIPPED suite-bandwidth"
else
  timeout 120 "$frugal" suite "$q8" --bandwidth 12.5 -p 8 -n 2 -r 1 --ctx 32 -q --json --out "$tmp/g" >"$tmp/g.json" 2>"$tmp/err" \
    || fail "suite --bandwidth: $(head -2 "$tmp/err")"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); m=d['models'][0]['bench']; sys.exit(0 if d['bandwidth_gb_s'] == 12.5 and m['bandwidth_gb_s'] == 12.5 and m['ceiling_fraction'] > 0 else 1)" \
    "$tmp/g.json" || fail "suite --bandwidth: the figure was not handed to the model: $(head -c 300 "$tmp/g.json")"
fi

[ $fails -eq 0 ] && echo "cli_suite: all passed" || { echo "cli_suite: $fails failure(s)"; exit 1; }
