#!/usr/bin/env bash
# `frugal quantize` and `frugal synth --dtype q*` from the command line: the same bytes
# every way (HF directory, GGUF, straight from synth, any thread count); the output is a
# GGUF other tools read (type ids, alignment: checked by `frugal inspect` and by a
# minimal independent parse here); every error is one line "frugal: ..." on stderr with
# exit status 1 and leaves neither OUT nor OUT.part behind (an existing OUT untouched).
set -u
bin=${FG_BIN:?} data=${FG_TEST_DATA:?} models=${FG_TEST_MODELS:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_error() {
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 1 ] || fail "exit $rc (want 1): $*"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err" >&2; fail "not one line of error: $*"; }
  grep -q '^frugal: ' "$tmp/err" || fail "error does not start with 'frugal: ': $(cat "$tmp/err")"
  ls "$tmp"/*.part >/dev/null 2>&1 && fail "a .part file was left behind: $*"
  return 0
}

# --help documents the mixtures
"$bin" quantize --help >"$tmp/help" || fail "--help"
grep -q 'q4_k_m' "$tmp/help" && grep -q 'attn_v and ffn_down' "$tmp/help" && grep -q 'Q6_K' "$tmp/help" \
  || fail "--help does not describe the _M mixture"

# the same file from the HF directory, from the F32 GGUF, from synth, with 1 or 2 threads
q256=(synth "$data/synthetic/qwen2-q256.json")
for t in q8_0 q4_k_m; do
  "$bin" quantize "$models/qwen2-q256-hf" "$tmp/hf-$t.gguf" --type $t --threads 2 >"$tmp/out" 2>"$tmp/err" || fail "quantize hf $t: $(cat "$tmp/err")"
  [ -s "$tmp/err" ] && fail "stderr not empty (no terminal, no warning expected): $(cat "$tmp/err")"
  grep -q "^wrote $tmp/hf-$t.gguf: $t" "$tmp/out" || fail "summary line: $(cat "$tmp/out")"
  "$bin" quantize "$models/qwen2-q256-f32.gguf" "$tmp/gg-$t.gguf" --type=$t --threads 1 >/dev/null 2>&1 || fail "quantize gguf $t"
  "$bin" "${q256[@]}" "$tmp/sy-$t.gguf" --dtype $t --tokenizer "$models/qwen-tokenizer" --threads 3 >/dev/null 2>&1 || fail "synth --dtype $t"
  cmp -s "$tmp/hf-$t.gguf" "$tmp/gg-$t.gguf" || fail "$t: HF and GGUF inputs give different files"
  cmp -s "$tmp/hf-$t.gguf" "$tmp/sy-$t.gguf" || fail "$t: synth --dtype differs from quantize"
done

# inspect reads it: file type 15 (llama.cpp's MOSTLY_Q4_K_M), Q4_K and Q6_K tensors
"$bin" inspect "$tmp/hf-q4_k_m.gguf" >"$tmp/insp" || fail "inspect"
grep -Eq 'general.file_type +15' "$tmp/insp" || fail "file_type is not 15"
grep -Eq 'blk.1.ffn_down.weight +q6_k' "$tmp/insp" || fail "blk.1.ffn_down is not q6_k (more-bits layer)"
grep -Eq 'blk.0.ffn_down.weight +q4_k' "$tmp/insp" || fail "blk.0.ffn_down is not q4_k"
grep -Eq 'token_embd.weight +q6_k' "$tmp/insp" || fail "the tied embedding is not q6_k"
grep -q 'tokenizer.chat_template' "$tmp/insp" || fail "no chat template"

# an independent look at the layout: magic, version 3, and every tensor offset a
# multiple of the default alignment (32), as ggml's reader requires
python3 - "$tmp/hf-q4_k_m.gguf" <<'EOF' || fail "GGUF layout"
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[:4] == b'GGUF' and struct.unpack_from('<I', b, 4)[0] == 3
nt, nkv = struct.unpack_from('<QQ', b, 8)
p = 24
def s(p):
    n = struct.unpack_from('<Q', b, p)[0]; return b[p+8:p+8+n], p + 8 + n
size = {0:4,1:1,2:1,3:2,4:2,5:4,6:4,7:1,10:8,11:8,12:8}
def val(t, p):
    if t == 8: return s(p)[1]
    if t == 9:
        et, n = struct.unpack_from('<IQ', b, p); p += 12
        for _ in range(n): p = val(et, p)
        return p
    return p + {0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}[t]
for _ in range(nkv):
    k, p = s(p); t = struct.unpack_from('<I', b, p)[0]; p = val(t, p + 4)
# ggml type ids and bytes per block of the types written
blk = {0:(1,4), 1:(1,2), 30:(1,2), 8:(32,34), 2:(32,18), 12:(256,144), 13:(256,176), 14:(256,210)}
infos = []
for _ in range(nt):
    name, p = s(p); nd = struct.unpack_from('<I', b, p)[0]; p += 4
    ne = struct.unpack_from('<%dQ' % nd, b, p); p += 8 * nd
    ty, off = struct.unpack_from('<IQ', b, p); p += 12
    assert ty in blk, (name, ty)
    assert off % 32 == 0, (name, off)
    n = 1
    for d in ne: n *= d
    e, by = blk[ty]; infos.append((off, n // e * by))
data = (p + 31) // 32 * 32
end = max(o + n for o, n in infos)
assert data + end <= len(b) <= data + end + 32, (data, end, len(b))
EOF

# re-quantizing a quantized file works, with one warning line
"$bin" quantize "$models/qwen2-q256-q8_0.gguf" "$tmp/re.gguf" --type q4_0 >/dev/null 2>"$tmp/err" || fail "requantize"
grep -q '^frugal: warning: .*already quantized' "$tmp/err" || fail "no re-quantization warning: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "more than one warning line"

# errors: one line, exit 1, nothing left behind
expect_error "$bin" quantize
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf"
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf" --type q3_k_s
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf" --type
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf" --type q8_0 --threads 0
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf" --type q8_0 --bogus
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/x.gguf" extra --type q8_0
expect_error "$bin" quantize "$tmp/missing" "$tmp/x.gguf" --type q8_0
echo "not a model" >"$tmp/junk.gguf"
expect_error "$bin" quantize "$tmp/junk.gguf" "$tmp/x.gguf" --type q8_0
head -c 100000 "$models/qwen2-q256-f32.gguf" >"$tmp/trunc.gguf"
expect_error "$bin" quantize "$tmp/trunc.gguf" "$tmp/x.gguf" --type q8_0
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/no/such/dir/x.gguf" --type q8_0
expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp" --type q8_0
[ -e "$tmp/x.gguf" ] && fail "an output was left behind"
# an existing OUT is kept when the command fails
echo "keep" >"$tmp/keep.gguf"
expect_error "$bin" quantize "$tmp/junk.gguf" "$tmp/keep.gguf" --type q8_0
[ "$(cat "$tmp/keep.gguf")" = "keep" ] || fail "an existing OUT was clobbered"
# a full disk: the error says so, and the device is written in place, never replaced
if [ -c /dev/full ]; then
  expect_error "$bin" quantize "$models/qwen2-q256-hf" /dev/full --type q8_0
  grep -q 'No space left' "$tmp/err" || fail "disk full not reported: $(cat "$tmp/err")"
  [ -c /dev/full ] || fail "/dev/full is no longer a device"
  [ -e /dev/full.part ] && fail "/dev/full.part left behind"
fi
# an unwritable directory (skipped as root, who may write anywhere)
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
  expect_error "$bin" quantize "$models/qwen2-q256-hf" "$tmp/ro/x.gguf" --type q8_0
fi

# synth: quantized types need GGUF
expect_error "$bin" "${q256[@]}" "$tmp/hfq" --format hf --dtype q4_k_m --no-tokenizer
expect_error "$bin" "${q256[@]}" "$tmp/x.gguf" --dtype q3_k --no-tokenizer
expect_error "$bin" "${q256[@]}" "$tmp/x.gguf" --dtype q8_0 --threads many --no-tokenizer
echo "ok"
