#!/usr/bin/env bash
# Generates the synthetic models the tests use (../shared/synthetic/SPEC.md, implemented
# by `frugal synth`) into a build-tree folder, and unpacks the compressed fixtures
# (the Qwen tokenizer, llama.cpp-quantized q256 files). Skips what already exists.
set -euo pipefail
frugal=$1 data=$2 out=$3
mkdir -p "$out"
tok="$out/qwen-tokenizer"
if [ ! -f "$tok/tokenizer.json" ]; then
  mkdir -p "$tok"
  xz -dc "$data/tokenizers/qwen/tokenizer.json.xz" > "$tok/tokenizer.json.tmp"
  mv "$tok/tokenizer.json.tmp" "$tok/tokenizer.json"
  cp "$data/tokenizers/qwen/tokenizer_config.json" "$tok/"
fi
for f in "$data"/golden/*.gguf.xz; do
  g="$out/$(basename "${f%.xz}")"
  [ -f "$g" ] || { xz -dc "$f" > "$g.tmp" && mv "$g.tmp" "$g"; }
done
gen() { # gen CONFIG OUT FORMAT DTYPE
  [ -e "$out/$2" ] && return 0
  "$frugal" synth "$data/synthetic/$1.json" "$out/$2.tmp" --format "$3" --dtype "$4" --tokenizer "$tok"
  mv "$out/$2.tmp" "$out/$2"
}
for m in qwen2-tiny llama-tiny qwen3-tiny; do
  gen $m $m-hf hf f32
  gen $m $m-f32.gguf gguf f32
done
gen qwen2-tiny qwen2-tiny-hf-bf16 hf bf16
gen qwen2-q256 qwen2-q256-hf-bf16 hf bf16
for t in f32 f16 bf16; do gen qwen2-q256 qwen2-q256-$t.gguf gguf $t; done
gen qwen2-q256 qwen2-q256-hf hf f32
echo "models ready in $out"
