#!/usr/bin/env bash
# The memory budget through the command line:
#  - a limit below the need: refused before the weights are read (the refused run's
#    peak RSS stays far below the weights' size), naming what would fit;
#  - --fit: chooses a quantization that fits and completes under the limit;
#  - frugal plan's exit status and JSON.
set -u
frugal=${FG_BIN:?} models=${FG_TEST_MODELS:?}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
m=$models/qwen2-tiny-f32.gguf     # 45 MB: 39 MB of F32 weights
# under ASan the shadow memory inflates RSS: peak-RSS checks only in normal builds
hwm() { if [ "${FG_SANITIZED:-0}" = 1 ]; then echo 0; else awk '/Maximum resident/ {print $NF}' "$1"; fi; }

# 1. refused before reading the weights
/usr/bin/time -v "$frugal" run "$m" --ids 1,2,3 -n 4 --mem-limit 40M --mem-margin 0 >$t/out 2>$t/err
rc=$?
[ $rc -eq 1 ] || fail "refusal exit $rc"
grep -q "^frugal: .*does not fit: needs .* limit 40.0 MiB; fits with --quant q8_0" $t/err || { fail "refusal message"; cat $t/err; }
[ "$(hwm $t/err)" -lt 20000 ] || fail "refused run peaked at $(hwm $t/err) kB: it read the weights"
[ -s $t/out ] && fail "refused run printed output"

# 2. --fit chooses q8_0 and completes under the limit (not under ASan: its shadow memory
#    is resident and counted by the run-time budget, so a 40 MiB process cannot exist)
if [ "${FG_SANITIZED:-0}" != 1 ]; then
/usr/bin/time -v "$frugal" run "$m" --ids 1,2,3 -n 4 --mem-limit 40M --mem-margin 0 --fit >$t/out 2>$t/err
rc=$?
[ $rc -eq 0 ] || { fail "--fit exit $rc"; cat $t/err; }
grep -q "chose q8_0" $t/err || fail "--fit did not say what it chose"
grep -q "^greedy:" $t/out || fail "--fit run produced no tokens"
[ "$(hwm $t/err)" -lt 40960 ] || fail "--fit run peaked at $(hwm $t/err) kB, over the 40 MiB limit"
fi

# 3. plan: exit 3 when it does not fit, 0 when it does; JSON parses and agrees
"$frugal" plan "$m" --mem-limit 40M --mem-margin 0 >$t/out; [ $? -eq 3 ] || fail "plan exit for a model that does not fit"
"$frugal" plan "$m" --mem-limit 1G >$t/out; [ $? -eq 0 ] || fail "plan exit for a model that fits"
"$frugal" plan "$m" --mem-limit 40M --mem-margin 0 --fit --json >$t/plan.json; [ $? -eq 0 ] || fail "plan --fit exit"
python3 - "$t/plan.json" <<'PY' || fail "plan --fit JSON"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["fits"] and p["quant"] == "q8_0", p
assert p["peak"] <= p["limit"] == 40 * 1024 * 1024, p
assert abs(p["weights"] + p["kv"] + p["scratch"] + p["tokenizer"] + p["runtime"] - p["peak"]) < 1 or p["peak"] == p["load_peak"], p
PY
# a context larger than the limit allows: plan says which context fits
"$frugal" plan "$models/qwen2-q256-f32.gguf" --ctx 100000 --kv-type f32 --mem-limit 100M --mem-margin 0 >$t/out
grep -q "fits with .*--ctx" $t/out || { fail "plan did not offer a smaller context"; cat $t/out; }
echo "budget: $fails failures"
[ $fails -eq 0 ]
