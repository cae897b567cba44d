#!/usr/bin/env bash
# The README's main command: set up and build, generate synthetic Qwen2.5-0.5B, 1.5B and
# 3B shape models (0.5B and 1.5B as F16, Q8_0 and Q4_K_M; 3B as Q4_K_M; cached in
# models/), and run the model suite on them with a 7.4 GB limit — the Jetson Orin Nano
# 8 GB case: every model in its own process, measured peak against the plan, overhead
# over the file, speed. Prints the table and the path of the HTML report.
#
#   scripts/run.sh                 the generated models
#   scripts/run.sh MODEL...        real models (GGUF files or HF directories) instead
#
# Settings (environment): LIMIT (7.4G), PROMPT (256 tokens), GEN (64), REPS (2),
# THREADS (physical cores), OUT (reports/suite-<date>-<time>).
#
# Quantized files are generated straight to their type by `frugal synth --dtype TYPE`
# (streaming) when synth can write it; otherwise the F16 file is used and the suite
# converts it while loading ("quant" in the suite), which the report shows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
frugal=build/frugal
limit=${LIMIT:-7.4G}
stamp=$(date +%Y%m%d-%H%M%S)
out=${OUT:-reports/suite-$stamp}
mkdir -p models "$out"

entries=()
if [ $# -gt 0 ]; then
  for m in "$@"; do entries+=("{\"path\": \"$m\"}"); done
else
  tok=models/qwen-tokenizer
  if [ ! -f $tok/tokenizer.json ]; then
    mkdir -p $tok
    xz -dc tests/data/tokenizers/qwen/tokenizer.json.xz > $tok/tokenizer.json.tmp
    mv $tok/tokenizer.json.tmp $tok/tokenizer.json
    cp tests/data/tokenizers/qwen/tokenizer_config.json $tok/
  fi
  synth_help=$($frugal synth --help 2>&1 || true)
  gen() { # gen SHAPE TYPE: the file, generated unless cached
    local f=models/$1-$2.gguf
    if [ ! -f "$f" ]; then
      echo "generating $f" >&2
      $frugal synth "$1" "$f.tmp" --format gguf --dtype "$2" --tokenizer $tok >&2
      mv "$f.tmp" "$f"
    fi
    echo "$f"
  }
  add() { # add SHAPE TYPE
    if [[ $2 == f16 ]] || grep -qw "$2" <<<"$synth_help"; then
      entries+=("{\"path\": \"$(gen "$1" "$2")\", \"name\": \"$1-$2\"}")
    else
      entries+=("{\"path\": \"$(gen "$1" f16)\", \"name\": \"$1-$2\", \"quant\": \"$2\"}")
    fi
  }
  for t in f16 q8_0 q4_k_m; do add qwen2.5-0.5b $t; done
  for t in f16 q8_0 q4_k_m; do add qwen2.5-1.5b $t; done
  add qwen2.5-3b q4_k_m
fi

suite=$out/suite.json
{
  echo "{\"name\": \"Jetson Orin Nano 8 GB case: $limit limit\","
  echo " \"mem_limit\": \"$limit\", \"prompt_tokens\": ${PROMPT:-256}, \"gen_tokens\": ${GEN:-64},"
  echo " \"reps\": ${REPS:-2}, \"ctx\": 4096, \"threads\": ${THREADS:-0},"
  echo " \"models\": ["
  for i in "${!entries[@]}"; do
    sep=","; [ "$i" -eq $((${#entries[@]} - 1)) ] && sep=""
    echo "  ${entries[$i]}$sep"
  done
  echo " ]}"
} > "$suite"
$frugal suite "$suite" --out "$out"
