#!/usr/bin/env bash
# The README's main command: set up, build, generate a synthetic Qwen2.5-0.5B-shape F16
# model (cached in models/), show where its memory goes and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p models
tok=models/qwen-tokenizer
if [ ! -f $tok/tokenizer.json ]; then
  mkdir -p $tok
  xz -dc tests/data/tokenizers/qwen/tokenizer.json.xz > $tok/tokenizer.json
  cp tests/data/tokenizers/qwen/tokenizer_config.json $tok/
fi
m=models/qwen2.5-0.5b-f16.gguf
[ -f $m ] || build/frugal synth qwen2.5-0.5b $m --format gguf --dtype f16 --tokenizer $tok
build/frugal inspect $m | tail -16
build/frugal run $m --ids 9707,11,1879,0 -n 32
