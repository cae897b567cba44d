#!/usr/bin/env bash
# `frugal inspect` on malformed model files: each must exit with status 1 (not a crash,
# not success) and print exactly one line "frugal: ..." on stderr. A valid file (the
# llama.cpp-quantized qwen2-q256 Q8_0 GGUF) must be listed with exit status 0.
set -uo pipefail
bin=${FG_BIN:?FG_BIN must name the frugal command}
data=${FG_TEST_DATA:?}
models=${FG_TEST_MODELS:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# bad NAME PATH: inspect must fail cleanly
bad() {
  local name=$1 path=$2
  "$bin" inspect "$path" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ]; then
    echo "FAIL $name: exit status $rc (want 1)"; cat "$tmp/err"; failures=$((failures + 1)); return
  fi
  if [ "$lines" -ne 1 ] || ! head -c 8 "$tmp/err" | grep -q '^frugal: '; then
    echo "FAIL $name: stderr is not one 'frugal: ' line:"; cat "$tmp/err"; failures=$((failures + 1)); return
  fi
  echo "ok   $name: $(cat "$tmp/err")"
}

# little-endian u32 / u64 as printf escapes
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32 & 0xffffffff)); }

good=""
if [ -n "$models" ] && [ -f "$models/qwen2-q256-q8_0.gguf" ]; then
  good="$models/qwen2-q256-q8_0.gguf"
else
  good="$tmp/q8_0.gguf"
  xz -dc "$data/golden/qwen2-q256-q8_0.gguf.xz" >"$good" || { echo "FAIL: cannot decompress the golden file"; exit 1; }
fi
size=$(stat -c %s "$good")

: >"$tmp/empty.gguf"
bad "empty file" "$tmp/empty.gguf"
printf 'GGML\x03\x00\x00\x00' >"$tmp/magic.gguf"
bad "wrong magic" "$tmp/magic.gguf"
printf "GGUF$(le32 1)$(le32 0)$(le32 0)" >"$tmp/v1.gguf"
bad "GGUF version 1" "$tmp/v1.gguf"
printf "GGUF$(le32 4)$(le64 0)$(le64 0)" >"$tmp/v4.gguf"
bad "GGUF version 4" "$tmp/v4.gguf"
printf "GGUF$(le32 3)$(le64 0)$(le64 $((1 << 60)))" >"$tmp/nkv.gguf"
bad "n_kv 2^60" "$tmp/nkv.gguf"
printf "GGUF$(le32 3)$(le64 $((1 << 60)))$(le64 0)" >"$tmp/nt.gguf"
bad "n_tensors 2^60" "$tmp/nt.gguf"
printf "GGUF$(le32 3)$(le64 0)$(le64 1)$(le64 $((1 << 62)))key-and-some-more-bytes" >"$tmp/klen.gguf"
bad "key length 2^62" "$tmp/klen.gguf"
for cut in 3 24 1000 100000 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$good" >"$tmp/cut.gguf"
  bad "golden file cut at $cut of $size bytes" "$tmp/cut.gguf"
done
# the golden file with its header's n_tensors one too high (bytes 8..15)
cp "$good" "$tmp/more.gguf"
nt=$(od -An -t u8 -j 8 -N 8 "$good" | tr -d ' ')
printf "$(le64 $((nt + 1)))" | dd of="$tmp/more.gguf" bs=1 seek=8 conv=notrunc status=none
bad "golden file claiming an extra tensor" "$tmp/more.gguf"

# Hugging Face directories
mkdir -p "$tmp/nofiles" "$tmp/trunc" "$tmp/beyond" "$tmp/noshard"
bad "directory without model files" "$tmp/nofiles"
cp "$data/synthetic/qwen2-tiny.json" "$tmp/trunc/config.json"
printf "$(le64 100){\"a\":" >"$tmp/trunc/model.safetensors"
bad "truncated safetensors header" "$tmp/trunc"
cp "$data/synthetic/qwen2-tiny.json" "$tmp/beyond/config.json"
printf "$(le64 2){}" >"$tmp/beyond/model.safetensors"
printf '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' >"$tmp/beyond/h"
hl=$(stat -c %s "$tmp/beyond/h")
{ printf "$(le64 "$hl")"; cat "$tmp/beyond/h"; printf '\x00\x00\x00\x00'; } >"$tmp/beyond/model.safetensors"
rm "$tmp/beyond/h"
bad "tensor data beyond the file" "$tmp/beyond"
cp "$data/synthetic/qwen2-tiny.json" "$tmp/noshard/config.json"
printf '{"weight_map":{"a":"model-00001-of-00002.safetensors"}}' >"$tmp/noshard/model.safetensors.index.json"
bad "missing shard" "$tmp/noshard"
bad "nonexistent path" "$tmp/does-not-exist.gguf"

# the valid file is listed
if "$bin" inspect "$good" >"$tmp/out" 2>"$tmp/err"; then
  if grep -q 'token_embd.weight' "$tmp/out" && grep -q 'q8_0' "$tmp/out" && grep -q 'general.architecture' "$tmp/out"; then
    echo "ok   valid file listed"
  else
    echo "FAIL valid file: listing lacks token_embd.weight / q8_0 / general.architecture"; failures=$((failures + 1))
  fi
else
  echo "FAIL valid file: inspect failed:"; cat "$tmp/err"; failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
