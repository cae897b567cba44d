#!/usr/bin/env bash
# Long fuzzing campaign (issue 8's "30 CPU-minutes per target"): runs the given libFuzzer
# targets round-robin in rounds of ROUND wall seconds (default 600), at nice 19, each round
# with a new libFuzzer seed and the corpus kept from earlier rounds (build-libfuzzer/corpus),
# until each target has used TARGET_CPU CPU seconds (default 1800) in all. CPU time is
# measured per round by GNU time and appended to build-libfuzzer/logs/soak.tsv
# (target, round seed, CPU s, inputs run, exit status or "paused"), which is what the figures in
# bench/RESULTS.md are summed from. A crash stops that target and is reported (the input
# stays in build-libfuzzer/artifacts/).
#
#   scripts/fuzz-soak.sh [TARGET...]        (default: every target; build with scripts/fuzz.sh 1 first)
#   ROUND=300 TARGET_CPU=1800 scripts/fuzz-soak.sh gguf safetensors
#   scripts/fuzz-soak.sh --report           (CPU seconds and inputs per target so far)
# On a machine with N idle cores, run N campaigns at once on disjoint target lists.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${FG_FUZZ_BUILD:-build-libfuzzer}
ledger=$build/logs/soak.tsv
round=${ROUND:-600}
goal=${TARGET_CPU:-1800}
mkdir -p "$build/logs" "$build/artifacts"
touch "$ledger"

cpu_of() { awk -v t="$1" '$1 == t { s += $3 } END { printf "%.0f", s }' "$ledger"; }

if [ "${1:-}" = --report ]; then
  printf "%-16s %10s %12s %8s\n" target cpu_s inputs crashes
  for t in $(cut -f1 "$ledger" | sort -u); do
    awk -v t="$t" '$1 == t { c += $3; n += $4; if ($5 != 0 && $5 != "paused") x++ } END { printf "%-16s %10.0f %12d %8d\n", t, c, n, x }' "$ledger"
  done
  exit 0
fi

. scripts/fuzz-targets.sh "$@"
# nice 19 only ranks processes within one scheduling autogroup (one session): started
# with setsid or from another terminal, the campaign would still take half the machine
# from everything else. Lowering the session's autogroup makes it really background work.
[ -w /proc/self/autogroup ] && echo 19 >/proc/self/autogroup 2>/dev/null || true
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

seed=$(( $(wc -l <"$ledger") + 100 ))
while :; do
  left=0
  for t in "${targets[@]}"; do
    bin="$build/fuzz/fuzz_$t"
    [ -x "$bin" ] || { echo "soak: no target $t (scripts/fuzz.sh 1 $t builds it)" >&2; continue; }
    [ -f "$build/logs/soak-$t.crashed" ] && continue
    done_s=$(cpu_of "$t")
    [ "$done_s" -ge "$goal" ] && continue
    left=1
    # The last round of a target runs only what it still needs (plus a little), not a full ROUND.
    need=$((goal - done_s + 10))
    len=$(( need < round ? need : round ))
    work="$build/corpus/$t"
    mkdir -p "$work"
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    seed=$((seed + 1))
    log="$build/logs/soak-$t-$seed.log"
    rc=0
    nice -n 19 /usr/bin/time -f "%U %S" -o "$build/logs/soak-$t.cpu" "$bin" -seed=$seed \
      -max_total_time="$len" -timeout=30 -rss_limit_mb=4096 -max_len=131072 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    cpu=$(awk 'END { printf "%.1f", $1 + $2 }' "$build/logs/soak-$t.cpu")
    # A "timeout" whose input then runs at once was a paused or starved process (libFuzzer
    # times units by the wall clock): recorded as "paused", not as a crash.
    if [ $rc -ne 0 ] && grep -q "ERROR: libFuzzer: timeout" "$log"; then
      unit=$(sed -n 's/.*Test unit written to \(.*timeout-[0-9a-f]*\).*/\1/p' "$log" | tail -1)
      if [ -n "$unit" ] && timeout 30 "$bin" "$unit" >/dev/null 2>&1; then
        rc=paused
        mv "$unit" "$unit.paused"
      fi
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf "%s\t%s\t%s\t%s\t%s\n" "$t" "$seed" "$cpu" "${execs:-0}" "$rc" >>"$ledger"
    echo "soak: $t seed $seed: ${cpu} CPU s, ${execs:-?} inputs, exit $rc; total $(cpu_of "$t") s"
    if [ "$rc" != 0 ] && [ "$rc" != paused ]; then
      echo "soak: $t CRASHED (log $log)" >&2
      grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -10 >&2
      : >"$build/logs/soak-$t.crashed"
    else
      rm -f "$log"
    fi
  done
  [ $left = 1 ] || break
done
echo "soak: done"
"$0" --report
