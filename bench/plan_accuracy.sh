#!/usr/bin/env bash
# Issue 5 acceptance: the plan's predicted peak against the measured VmHWM, and the
# measured peak against file + KV used + 32 MiB, for generated Qwen2.5-0.5B/1.5B/3B
# shapes at F16 / Q8_0 / Q4_K_M with --ctx 512 / 4096 / 32768 and 256 generated tokens.
# Also: RSS must not grow with the context reserved (512 vs 32768 at the same tokens),
# and the breakdown's unaccounted bytes.
#   bench/plan_accuracy.sh [SHAPES] [TYPES] [CTXS]     e.g. bench/plan_accuracy.sh "0.5b" "f16 q8_0"
# Models are generated into models/ when missing (frugal synth, streaming).
set -euo pipefail
cd "$(dirname "$0")/.."
frugal=${FRUGAL:-build/frugal}
shapes=${1:-"0.5b 1.5b 3b"}
types=${2:-"f16 q8_0 q4_k_m"}
ctxs=${3:-"512 4096 32768"}
ids=$(python3 -c "print(','.join(str(1000 + 37 * i) for i in range(20)))")
n_gen=256
mkdir -p models
printf "| model | ctx | file MiB | predicted peak MiB | VmHWM MiB | pred. error | file + KV used + 32 MiB | within | unaccounted MiB |\n"
printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n"
for shape in $shapes; do
  for t in $types; do
    m=models/qwen2.5-$shape-$t.gguf
    [ -f "$m" ] || $frugal synth qwen2.5-$shape "$m" --format gguf --dtype "$t" >&2
    size=$(stat -c %s "$m")
    for c in $ctxs; do
      plan=$($frugal plan "$m" --ctx "$c" --tokens $((20 + n_gen)) --json)
      out=$(mktemp)
      /usr/bin/time -v $frugal run "$m" --ids "$ids" -n $n_gen --ctx "$c" --threads "${THREADS:-2}" -v >/dev/null 2>"$out"
      python3 - "$m" "$c" "$size" "$plan" "$out" <<'PY'
import json, re, sys
m, c, size, plan, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), open(sys.argv[5]).read()
MiB = 1 << 20
hwm = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1)) * 1024
un = re.search(r"unaccounted: .*total (-?[\d.]+) (KiB|MiB|GiB|B)", out)
scale = {"B": 1 / MiB, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
unacc = float(un.group(1)) * scale[un.group(2)] if un else float("nan")
pred = plan["peak"]
err = (pred - hwm) / hwm
bound = size + plan["kv_per_token"] * 276 + 32 * MiB
ok = "yes" if hwm <= bound else "NO"
print(f"| {m.split('/')[-1]} | {c} | {size/MiB:.0f} | {pred/MiB:.1f} | {hwm/MiB:.1f} | {err*100:+.1f}% "
      f"({(pred-hwm)/MiB:+.1f} MiB) | {bound/MiB:.0f} | {ok} | {unacc:.1f} |")
PY
      rm -f "$out"
    done
  done
done
