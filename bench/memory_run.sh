#!/usr/bin/env bash
# Issue 2 memory benchmark: `frugal run` on a generated Qwen2.5-0.5B-shape F16 GGUF
# (~1 GB), a short prompt, 256 generated tokens, --ctx 4096. Reports the peak RSS
# (VmHWM, from /usr/bin/time -v) and its margin over the file size.
# Target: peak <= file size + 64 MiB (llama.cpp on the same run: +142 MB, ../shared/PEERS.md).
#   bench/memory_run.sh [MODEL] [extra frugal run options]
set -euo pipefail
cd "$(dirname "$0")/.."
frugal=${FRUGAL:-build/frugal}
model=${1:-models/qwen2.5-0.5b-f16.gguf}
shift || true
if [ ! -f "$model" ]; then
  tok=models/qwen-tokenizer
  mkdir -p $tok
  [ -f $tok/tokenizer.json ] || xz -dc tests/data/tokenizers/qwen/tokenizer.json.xz > $tok/tokenizer.json
  cp tests/data/tokenizers/qwen/tokenizer_config.json $tok/
  $frugal synth qwen2.5-0.5b "$model" --format gguf --dtype f16 --tokenizer $tok
fi
size=$(stat -c %s "$model")
out=$(mktemp)
/usr/bin/time -v $frugal run "$model" --ids 9707,11,1879,0,576,3974,13876 -n 256 --ctx 4096 "$@" >/dev/null 2>"$out"
hwm_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$out")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out")
rm -f "$out"
python3 - "$model" "$size" "$hwm_kb" "$wall" <<'PY'
import sys
model, size, hwm_kb, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
hwm = hwm_kb * 1024
mib = 1024 * 1024
print(f"model {model}: file {size/mib:.1f} MiB, peak RSS (VmHWM) {hwm/mib:.1f} MiB, "
      f"margin {(hwm-size)/mib:+.1f} MiB (target <= +64 MiB), wall {wall}")
PY
