#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan, -DFG_FUZZ=ON) in build-libfuzzer/
# and runs each for a bounded time on its seed corpus (fuzz/corpus/<target>); the make-fuzz
# equivalent and the CI step.
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     (default: 60 s, every target)
# Exits non-zero when a target crashes, leaks, times out on an input or breaks one of its
# invariants; the input is kept in build-libfuzzer/artifacts/ (reproduce: build-libfuzzer/fuzz/TARGET
# FILE). New inputs found go to build-libfuzzer/corpus/<target>, never into the committed seeds.
# Runs at nice 19, one target at a time. FG_FUZZ_BUILD overrides the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
build=${FG_FUZZ_BUILD:-build-libfuzzer}

cc=""
for c in clang-14 clang; do command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }; done
[ -n "$cc" ] || { echo "fuzz.sh: clang not found (scripts/setup.sh installs it)" >&2; exit 1; }

. scripts/fuzz-targets.sh "$@"

start=$(date +%s)
CC=$cc nice -n 19 cmake -S . -B "$build" -DFG_FUZZ=ON -DFG_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# only the fuzzers (and the library they link), not the command
nice -n 19 cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
echo "fuzz: built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/artifacts" "$build/logs"
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; failed+=("$t"); continue; }
  work="$build/corpus/$t"
  mkdir -p "$work"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log="$build/logs/$t.log"
  t0=$(date +%s)
  rc=0
  timer=()  # CPU seconds (user + system) of the fuzzer, when GNU time is there
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$build/logs/$t.cpu")
  nice -n 19 "${timer[@]}" "$bin" -seed="${FG_FUZZ_SEED:-1}" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -max_len=131072 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" \
    "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  cpu=$([ -f "$build/logs/$t.cpu" ] && awk 'END { printf "%.0f", $1 + $2 }' "$build/logs/$t.cpu" || echo "?")
  echo "fuzz: $t: ${execs:-?} inputs, coverage ${cov:-?}, $(( $(date +%s) - t0 )) s wall, ${cpu} s CPU, exit $rc"
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    grep -E 'ERROR|FUZZ INVARIANT|SUMMARY|Test unit written|runtime error' "$log" | head -20 >&2 || true
  fi
done
echo "fuzz: ${#targets[@]} targets, $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (logs in $build/logs, inputs in $build/artifacts)" >&2
  exit 1
fi
