#!/usr/bin/env bash
# `frugal synth` from the command line: outputs are deterministic and follow the
# options; every error is one line "frugal: ..." on stderr with exit status 1 and
# leaves no output behind.
set -u
bin=${FG_BIN:?} data=${FG_TEST_DATA:?} models=${FG_TEST_MODELS:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error CMD...: exit status 1, exactly one stderr line starting "frugal: "
expect_error() {
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 1 ] || fail "exit $rc (want 1): $*"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err" >&2; fail "not one line of error: $*"; }
  grep -q '^frugal: ' "$tmp/err" || fail "error does not start with 'frugal: ': $(cat "$tmp/err")"
}

small=(--set vocab_size=512 --set bos_token_id=0 --set eos_token_id=1 --set num_hidden_layers=2 --no-tokenizer)

# a built-in shape, shrunk with --set; deterministic; --seed changes the weights
"$bin" synth qwen3-0.6b "$tmp/a.gguf" "${small[@]}" --dtype bf16 >/dev/null || fail "qwen3-0.6b small"
"$bin" synth qwen3-0.6b "$tmp/b.gguf" "${small[@]}" --dtype bf16 >/dev/null || fail "qwen3-0.6b small again"
cmp -s "$tmp/a.gguf" "$tmp/b.gguf" || fail "two runs differ"
[ "$(head -c 4 "$tmp/a.gguf")" = "GGUF" ] || fail "no GGUF magic (format from the .gguf suffix)"
"$bin" synth qwen3-0.6b "$tmp/c.gguf" "${small[@]}" --dtype bf16 --seed 7 >/dev/null || fail "--seed"
cmp -s "$tmp/a.gguf" "$tmp/c.gguf" && fail "--seed 7 gave the same weights"
# tensor bytes: 2 layers x 15728640 bf16 weights (q 2048x1024, k, v 1024x1024, o, 3 x
# 3072x1024) + a 512x1024 bf16 embedding + f32 norms (2 x (2 x 1024 + 2 x 128) + 1024),
# plus a header of a few hundred bytes
size=$(stat -c %s "$tmp/a.gguf")
want=$(( (2 * 15728640 + 512 * 1024) * 2 + (2 * (2 * 1024 + 2 * 128) + 1024) * 4 ))
[ "$size" -gt "$want" ] && [ "$size" -lt $((want + 4096)) ] || fail "size $size, want $want + header"

# HF directory: config.json states head_dim for qwen3 and the dtype
"$bin" synth qwen3-0.6b "$tmp/hf" "${small[@]}" --dtype bf16 >/dev/null || fail "hf"
grep -q '"head_dim":[[:space:]]*128' "$tmp/hf/config.json" || fail "head_dim missing in config.json"
grep -q '"torch_dtype":[[:space:]]*"bfloat16"' "$tmp/hf/config.json" || fail "torch_dtype"
grep -q '"Qwen3ForCausalLM"' "$tmp/hf/config.json" || fail "architectures"
[ -f "$tmp/hf/model.safetensors" ] || fail "no model.safetensors"
[ ! -e "$tmp/hf/tokenizer.json" ] || fail "--no-tokenizer wrote a tokenizer"

# the command generate_models.sh runs reproduces its output byte for byte
"$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/q.gguf" --format gguf --dtype f32 \
  --tokenizer "$models/qwen-tokenizer" >/dev/null || fail "q256"
cmp -s "$tmp/q.gguf" "$models/qwen2-q256-f32.gguf" || fail "q256 differs from the fixture"

# errors
echo '{"name": "x",' >"$tmp/bad.json"
expect_error "$bin" synth "$tmp/bad.json" "$tmp/x.gguf"
expect_error "$bin" synth "$tmp/missing.json" "$tmp/x.gguf"
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/no/such/dir/x.gguf" --no-tokenizer
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/no/such/dir/hf" --format hf --no-tokenizer
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --dtype q3_k
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/hfq" --format hf --dtype q4_0
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --format onnx
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --bogus
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --set hidden_size
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --set hidden_size=-4
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json"
# the full Qwen tokenizer does not fit a 4096-row embedding without vocab_cut
expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" "$tmp/x.gguf" --set vocab_cut=null \
  --tokenizer "$models/qwen-tokenizer"
grep -q vocab_cut "$tmp/err" || fail "the vocabulary error does not suggest vocab_cut"
[ ! -e "$tmp/x.gguf" ] || fail "an error left $tmp/x.gguf behind"
if [ -e /dev/full ]; then
  expect_error "$bin" synth "$data/synthetic/qwen2-q256.json" /dev/full --format gguf --no-tokenizer
  grep -q 'No space left' "$tmp/err" || fail "disk full not reported: $(cat "$tmp/err")"
fi
echo "cli_synth: ok"
