#!/usr/bin/env bash
# Issue 5 acceptance: the plan's predicted peak against the measured VmHWM, and the
# measured peak against file + KV used + 32 MiB, for generated Qwen2.5-0.5B/1.5B/3B
# shapes at F16 / Q8_0 / Q4_K_M with --ctx 512 / 4096 / 32768 and 256 generated tokens.
# Also: RSS must not grow with the context reserved (512 vs 32768 at the same tokens),
# and the breakdown's unaccounted bytes.
#   bench/plan_accuracy.sh [SHAPES] [TYPES] [CTXS]     e.g. bench/plan_accuracy.sh "0.5b" "f16 q8_0"
# Models are generated into models/ when missing (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
frugal=${FRUGAL:-build/frugal}
shapes=${1:-"0.5b 1.5b 3b"}
types=${2:-"f16 q8_0 q4_k_m"}
ctxs=${3:-"512 4096 32768"}
ids=$(python3 -c "print(','.join(str(1000 + 37 * i) for i in range(20)))")
n_gen=256
mkdir -p models
printf "| model | ctx | file MiB | predicted peak MiB | VmHWM MiB | pred. error | file + KV used + 32 MiB | within | VmHWM - VmHWM at first ctx | unaccounted MiB |\n"
printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n"
first=$(mktemp)
for shape in $shapes; do
  for t in $types; do
    m=models/qwen2.5-$shape-$t.gguf
    if [ ! -f "$m" ]; then
      # A quantized file is the shape's F16 model quantized (`frugal quantize`), so all
      # types of a shape hold the same model; without an F16 file it is generated straight
      # to its type (`frugal synth --dtype`, streaming, same tensor types and sizes).
      # Written under a temporary name so an interrupted run leaves no partial model.
      f16=models/qwen2.5-$shape-f16.gguf
      if [ "$t" != f16 ] && [ "$t" != f32 ] && [ "$t" != bf16 ] && [ -f "$f16" ]; then
        $frugal quantize "$f16" "$m.tmp" --type "$t" >&2
      else
        $frugal synth qwen2.5-$shape "$m.tmp" --format gguf --dtype "$t" >&2
      fi
      mv "$m.tmp" "$m"
    fi
    size=$(stat -c %s "$m")
    : >"$first"
    for c in $ctxs; do
      # the plan of exactly this run: 20 + 256 positions; `run` prefills the 20-token
      # prompt in one chunk, so its scratch is sized for min(--batch, 20) rows
      plan=$($frugal plan "$m" --ctx "$c" --tokens $((20 + n_gen)) --batch 20 --threads "${THREADS:-2}" --json)
      out=$(mktemp)
      /usr/bin/time -v $frugal run "$m" --ids "$ids" -n $n_gen --ctx "$c" --threads "${THREADS:-2}" -v >/dev/null 2>"$out"
      python3 - "$m" "$c" "$size" "$plan" "$out" "$first" <<'PY'
import json, re, sys
m, c, size, plan, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), open(sys.argv[5]).read()
first = sys.argv[6]
MiB = 1 << 20
hwm = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1)) * 1024
un = re.search(r"unaccounted: .*total (-?[\d.]+) (KiB|MiB|GiB|B)", out)
scale = {"B": 1 / MiB, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
unacc = float(un.group(1)) * scale[un.group(2)] if un else float("nan")
pred = plan["peak"]
err = (pred - hwm) / hwm
bound = size + plan["kv_per_token"] * 276 + 32 * MiB
ok = "yes" if hwm <= bound else "NO"
# RSS against the context reserved: the same positions at the model's first (smallest) context
prev = open(first).read().split()
if not prev:
    open(first, "w").write(f"{hwm} {c}")
    grow = "—"
else:
    grow = f"{(hwm - int(prev[0])) / MiB:+.1f} MiB (vs {prev[1]})"
print(f"| {m.split('/')[-1]} | {c} | {size/MiB:.0f} | {pred/MiB:.1f} | {hwm/MiB:.1f} | {err*100:+.1f}% "
      f"({(pred-hwm)/MiB:+.1f} MiB) | {bound/MiB:.0f} | {ok} | {grow} | {unacc:.1f} |")
PY
      rm -f "$out"
    done
  done
done
rm -f "$first"
