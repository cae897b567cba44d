#!/usr/bin/env bash
# Bad input through the command line: every case must end with a non-zero exit (not a
# signal or timeout) and
# exactly one line on stderr that starts with "frugal:" — never a crash (status >= 128),
# a hang (timeout) or silence.
set -u
frugal=${FG_BIN:?} models=${FG_TEST_MODELS:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 cases=0

expect_error() { # expect_error NAME CMD...
  local name=$1; shift
  cases=$((cases + 1))
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ $rc -eq 0 ] || [ $rc -ge 124 ] || [ "$lines" -ne 1 ] || ! grep -q '^frugal: ' "$tmp/err"; then
    echo "FAIL $name: exit $rc, $lines stderr lines:"; head -3 "$tmp/err"
    fails=$((fails + 1))
  fi
}

gguf=$models/qwen2-q256-f32.gguf
hf=$models/qwen2-q256-hf
size=$(stat -c %s "$gguf")

# wrong paths
expect_error missing-file "$frugal" inspect "$tmp/nope.gguf"
expect_error missing-file-run "$frugal" run "$tmp/nope.gguf" --ids 1
expect_error empty-file bash -c "touch $tmp/empty.gguf; exec $frugal inspect $tmp/empty.gguf"
expect_error not-a-model-dir "$frugal" run "$tmp" --ids 1

# truncated GGUF at many points: header, metadata, tensor infos, data
for cut in 3 4 8 16 24 100 1000 10000 100000 $((size / 2)) $((size - 4096)) $((size - 1)); do
  head -c "$cut" "$gguf" >"$tmp/cut.gguf"
  expect_error "gguf-cut-$cut-inspect" "$frugal" inspect "$tmp/cut.gguf"
  expect_error "gguf-cut-$cut-run" "$frugal" run "$tmp/cut.gguf" --ids 1,2 -n 1
done

# wrong magic, wrong version
cp "$gguf" "$tmp/magic.gguf"; printf 'GGUX' | dd of="$tmp/magic.gguf" conv=notrunc 2>/dev/null
expect_error wrong-magic "$frugal" run "$tmp/magic.gguf" --ids 1
cp "$gguf" "$tmp/ver.gguf"; printf '\x09\x00\x00\x00' | dd of="$tmp/ver.gguf" bs=1 seek=4 conv=notrunc 2>/dev/null
expect_error wrong-version "$frugal" run "$tmp/ver.gguf" --ids 1
# absurd tensor count (u64 at offset 8)
cp "$gguf" "$tmp/count.gguf"; printf '\xff\xff\xff\xff\xff\xff\xff\x0f' | dd of="$tmp/count.gguf" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_error absurd-tensor-count "$frugal" run "$tmp/count.gguf" --ids 1
cp "$gguf" "$tmp/kv.gguf"; printf '\xff\xff\xff\xff\xff\xff\xff\x0f' | dd of="$tmp/kv.gguf" bs=1 seek=16 conv=notrunc 2>/dev/null
expect_error absurd-kv-count "$frugal" run "$tmp/kv.gguf" --ids 1

# safetensors: truncated, header length beyond the file, invalid JSON, missing config
for cut in 4 8 64 1000 $(( $(stat -c %s "$hf/model.safetensors") - 1 )); do
  mkdir -p "$tmp/st$cut"; cp "$hf/config.json" "$tmp/st$cut/"
  head -c "$cut" "$hf/model.safetensors" >"$tmp/st$cut/model.safetensors"
  expect_error "safetensors-cut-$cut" "$frugal" run "$tmp/st$cut" --ids 1 -n 1
done
mkdir -p "$tmp/stjson"; cp "$hf/config.json" "$tmp/stjson/"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"a": [1, 2,,]}' >"$tmp/stjson/model.safetensors"
expect_error safetensors-bad-json "$frugal" run "$tmp/stjson" --ids 1
mkdir -p "$tmp/nocfg"; cp "$hf/model.safetensors" "$tmp/nocfg/"
expect_error missing-config "$frugal" run "$tmp/nocfg" --ids 1
mkdir -p "$tmp/badcfg"; cp "$hf/model.safetensors" "$tmp/badcfg/"; echo '{"model_type": "qwen2", "hidden_size": "big"' >"$tmp/badcfg/config.json"
expect_error malformed-config "$frugal" run "$tmp/badcfg" --ids 1
mkdir -p "$tmp/arch"; cp "$hf/model.safetensors" "$tmp/arch/"; sed 's/"qwen2"/"mamba"/g; s/Qwen2ForCausalLM/MambaForCausalLM/' "$hf/config.json" >"$tmp/arch/config.json"
expect_error unknown-architecture "$frugal" run "$tmp/arch" --ids 1
mkdir -p "$tmp/shape"; cp "$hf/model.safetensors" "$tmp/shape/"; sed 's/"intermediate_size":[[:space:]]*512/"intermediate_size": 768/' "$hf/config.json" >"$tmp/shape/config.json"
expect_error shape-mismatch "$frugal" run "$tmp/shape" --ids 1

mkdir -p "$tmp/missing"; cp "$hf/model.safetensors" "$tmp/missing/"; sed 's/"num_hidden_layers":[[:space:]]*2/"num_hidden_layers": 3/' "$hf/config.json" >"$tmp/missing/config.json"
expect_error missing-tensor "$frugal" run "$tmp/missing" --ids 1
grep -q "missing tensor model.layers.2" "$tmp/err" || { echo "FAIL missing-tensor: message does not name the tensor"; fails=$((fails + 1)); }
# a tensor type frugal does not compute with (Q4_1 = ggml type 3): patch the embedding's type id
python3 - "$gguf" "$tmp/dtype.gguf" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
n_t, n_kv = struct.unpack_from('<QQ', d, 8)
o = 24
def skip_val(t, o):
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    if t == 8: return o + 8 + struct.unpack_from('<Q', d, o)[0]
    if t == 9:
        at, n = struct.unpack_from('<IQ', d, o); o += 12
        for _ in range(n): o = skip_val(at, o)
        return o
    return o + sizes[t]
for _ in range(n_kv):
    o += 8 + struct.unpack_from('<Q', d, o)[0]
    t = struct.unpack_from('<I', d, o)[0]; o = skip_val(t, o + 4)
for _ in range(n_t):
    ln = struct.unpack_from('<Q', d, o)[0]; name = bytes(d[o + 8:o + 8 + ln]); o += 8 + ln
    nd = struct.unpack_from('<I', d, o)[0]; o += 4 + 8 * nd
    if name == b'token_embd.weight':
        struct.pack_into('<I', d, o, 3)   # F32 -> Q4_1: smaller data, still in the file
    o += 4 + 8
open(sys.argv[2], 'wb').write(d)
PY
expect_error unsupported-dtype "$frugal" run "$tmp/dtype.gguf" --ids 1
grep -q "token_embd.weight" "$tmp/err" || { echo "FAIL unsupported-dtype: message does not name the tensor"; cat "$tmp/err"; fails=$((fails + 1)); }

# arguments: id out of range, context too small, bad options
expect_error id-out-of-range "$frugal" run "$gguf" --ids 1,999999 -n 1
expect_error ctx-too-small "$frugal" run "$gguf" --ids 1,2,3,4 -n 8 --ctx 4
expect_error bad-ids "$frugal" run "$gguf" --ids 1,,2
expect_error unknown-option "$frugal" run "$gguf" --ids 1 --bogus
expect_error unknown-command "$frugal" frobnicate

echo "$cases cases, $fails failures"
[ $fails -eq 0 ]
