#!/usr/bin/env bash
# Issue 4 memory benchmark of `frugal quantize`: a generated Qwen2.5-0.5B-shape Hugging
# Face checkpoint in BF16 (~0.99 GB of safetensors) quantized to q4_k_m. Reports the peak
# RSS (VmHWM, from /usr/bin/time -v) against the target: the largest output tensor
# plus 64 MiB, whatever the model's size.
#
# With SYNTH="qwen2.5-1.5b ..." it also times `frugal synth SHAPE OUT.gguf --dtype q4_k_m`
# (generated straight into the quantized type) and reports its peak RSS.
#   bench/quantize_memory.sh [WORKDIR]       (FRUGAL=path/to/frugal, THREADS=N, TYPE=q4_k_m)
set -euo pipefail
cd "$(dirname "$0")/.."
frugal=${FRUGAL:-build/frugal}
type=${TYPE:-q4_k_m}
threads=${THREADS:-$(nproc)}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
hf="$work/qwen2.5-0.5b-hf-bf16"
if [ ! -f "$hf/model.safetensors" ]; then
  $frugal synth qwen2.5-0.5b "$hf" --format hf --dtype bf16 >/dev/null
fi
in_bytes=$(stat -c %s "$hf/model.safetensors")

# measure: /usr/bin/time -v CMD... -> "peak_kb wall" on stdout
measure() {
  local log
  log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log" >&2; rm -f "$log"; return 1; }
  awk -F': ' '/Maximum resident set size/ {kb=$2} /Elapsed \(wall clock\)/ {w=$2} END {print kb, w}' "$log"
  rm -f "$log"
}

out="$work/qwen2.5-0.5b-$type.gguf"
read -r hwm_kb wall < <(measure "$frugal" quantize "$hf" "$out" --type "$type" --threads "$threads")
# the largest output tensor, in bytes, from the tensor table of `frugal inspect`
largest=$("$frugal" inspect "$out" | awk '/^tensors/ {t=1; next} t && NF >= 4 {b=$NF; if (b+0 > m) {m = b+0; n = $1}} END {print m, n}')
read -r largest_bytes largest_name <<<"$largest"
out_bytes=$(stat -c %s "$out")
python3 - "$in_bytes" "$out_bytes" "$hwm_kb" "$wall" "$largest_bytes" "$largest_name" "$type" "$threads" <<'PY'
import sys
inb, outb, hwm_kb, wall, lb, ln, ty, th = sys.argv[1:]
mib = 1024 * 1024
hwm, lb = int(hwm_kb) * 1024, int(lb)
limit = lb + 64 * mib
print(f"quantize qwen2.5-0.5b HF BF16 ({int(inb)/mib:.0f} MiB) -> {ty} ({int(outb)/mib:.0f} MiB), {th} threads, {wall}")
print(f"peak RSS {hwm/mib:.1f} MiB; largest output tensor {ln} {lb/mib:.1f} MiB + 64 MiB = {limit/mib:.1f} MiB: "
      f"{'PASS' if hwm <= limit else 'FAIL'} (margin {(limit-hwm)/mib:.1f} MiB)")
PY

for shape in ${SYNTH:-}; do
  sout="$work/$shape-$type.gguf"
  read -r hwm_kb wall < <(measure "$frugal" synth "$shape" "$sout" --dtype "$type" --threads "$threads")
  echo "synth $shape --dtype $type ($(( $(stat -c %s "$sout") / 1048576 )) MiB), $threads threads: $wall, peak RSS $((hwm_kb / 1024)) MiB"
  rm -f "$sout"
done
[ -n "${KEEP:-}" ] || rm -f "$out"
