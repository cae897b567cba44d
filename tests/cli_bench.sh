#!/usr/bin/env bash
# `frugal bench`: --json gives one well-formed JSON object with positive speeds and
# consistent statistics, the memory report holds the phases, options change what they
# should, and bad input gets a one-line error. JSON is checked with jq, else python3;
# without either, by patterns on the one-line object.
set -u
frugal=${FG_BIN:?} models=${FG_TEST_MODELS:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

q8=$models/qwen2-q256-q8_0.gguf
f32=$models/qwen2-q256-f32.gguf

# jsonq FILE EXPR: evaluates a Python-style expression over the object `d`
jsonq() {
  if command -v python3 >/dev/null; then
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); r=($2); print(r)" "$1"
  else
    echo "skip"
  fi
}
check() { # check NAME FILE EXPR: EXPR must be True
  local r; r=$(jsonq "$2" "$3" 2>&1)
  [ "$r" = "True" ] || [ "$r" = "skip" ] || fail "$1: $3 -> $r"
}

# ---- --json ----------------------------------------------------------------------------
timeout 120 "$frugal" bench "$q8" -p 16 -n 4 -r 3 --ctx 64 --threads 2 --json >"$tmp/b.json" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "bench --json: exit $rc: $(head -2 "$tmp/err")"
[ "$(wc -l <"$tmp/b.json")" -eq 1 ] || fail "bench --json: not one line"
if command -v jq >/dev/null; then
  jq -e . "$tmp/b.json" >/dev/null || fail "bench --json: jq cannot parse it"
fi
grep -Eq '^\{.*\}$' "$tmp/b.json" || fail "bench --json: not an object"
grep -Eq '"decode_tok_s":\{"median":[0-9.e+-]+' "$tmp/b.json" || fail "bench --json: no decode median"
grep -Eq '"decode_tok_s":\{"median":0[,}]' "$tmp/b.json" && fail "bench --json: decode speed 0"
check speeds "$tmp/b.json" "all(d[k]['median'] > 0 and d[k]['min'] <= d[k]['median'] <= d[k]['max'] and len(d[k]['runs']) == 3 for k in ('prefill_tok_s', 'decode_tok_s', 'ttft_ms'))"
check median "$tmp/b.json" "all(sorted(d[k]['runs'])[1] == d[k]['median'] for k in ('prefill_tok_s', 'decode_tok_s'))"
check shape "$tmp/b.json" "d['n_prompt'] == 16 and d['n_gen'] == 4 and d['reps'] == 3 and d['n_ctx'] == 64 and d['n_threads'] == 2"
check type "$tmp/b.json" "d['weight_type'] == 'q8_0' and d['arch'] == 'qwen2'"
check memory "$tmp/b.json" "d['peak_rss'] > d['file_size'] > 0 and d['kv_used'] > 0 and d['overhead'] == d['peak_rss'] - d['file_size'] - d['kv_used']"
check breakdown "$tmp/b.json" "d['breakdown']['kernel']['vm_hwm'] == d['peak_rss']"
# the file's share on 2 MiB pages: FilePmdMapped of the process (this small file: none or
# all of its 2 MiB-aligned streamed ranges), or null where the kernel does not report it
check pages "$tmp/b.json" "d['file_pmd_mapped'] is None or (0 <= d['file_pmd_mapped'] <= d['file_size'] and d['file_pmd_mapped'] % (2 << 20) == 0 and d['file_pmd_mapped'] == d['breakdown']['smaps_rollup']['file_pmd'])"
# one bandwidth figure and one ceiling fraction per repetition, each the median over its
# pairs of a read of the weights and a decode step next to it (timings of a tiny model on
# a busy machine: only their bookkeeping and a sane range are checked here; the formula
# is checked exactly with a given bandwidth below)
check ceiling "$tmp/b.json" "len(d['bandwidth_gb_s_runs']) == 3 and min(d['bandwidth_gb_s_runs']) > 0 and d['bandwidth_gb_s'] == sorted(d['bandwidth_gb_s_runs'])[1] and abs(d['ceiling_tok_s'] - d['bandwidth_gb_s'] * 1e9 / d['weight_bytes_per_token']) < 1e-6 * d['ceiling_tok_s'] and d['ceiling_pairs'] == 16 and len(d['ceiling_fraction_runs']) == 3 and d['ceiling_fraction'] == sorted(d['ceiling_fraction_runs'])[1] and all(1e-3 < f < 1e3 for f in d['ceiling_fraction_runs'])"
# the ceiling is the rate of reading the weights in place: no probe buffer in the peak
check probe-in-place "$tmp/b.json" "d['peak_rss'] < d['file_size'] + d['kv_used'] + 64 * 2**20"

# ---- memory report, given bandwidth, text prompt, quantize on load -----------------------
timeout 120 "$frugal" bench "$q8" -p 8 -n 2 -r 1 --ctx 32 --bandwidth 12.5 --json --memory-report "$tmp/mem.json" \
  >"$tmp/b2.json" 2>"$tmp/err" || fail "bench --memory-report: $(head -2 "$tmp/err")"
check marks "$tmp/mem.json" "[m['phase'] for m in d['marks']] == ['load', 'prefill', 'decode', 'done']"
check samples "$tmp/mem.json" "len(d['samples']) >= 1 and d['breakdown']['kernel']['vm_hwm'] > 0"
check given-bw "$tmp/b2.json" "d['bandwidth_gb_s'] == 12.5 and d['ceiling_pairs'] == 0 and abs(d['ceiling_fraction'] - d['decode_tok_s']['median'] * d['weight_bytes_per_token'] / 12.5e9) < 1e-9 * d['ceiling_fraction']"
timeout 120 "$frugal" bench "$q8" -p 8 -n 2 -r 1 --ctx 32 --no-bandwidth --json >"$tmp/b3.json" 2>"$tmp/err" || fail "bench --no-bandwidth"
check no-bw "$tmp/b3.json" "d['bandwidth_gb_s'] is None and d['ceiling_fraction'] is None"
check no-profile "$tmp/b3.json" "d['decode_profile'] is None"
# --profile: every decode step of every repetition timed by phase; the phases' products
# read exactly the weights of a token, and only the product phases have a rate
timeout 120 "$frugal" bench "$q8" -p 8 -n 3 -r 2 --ctx 32 --no-bandwidth --profile --json >"$tmp/b7.json" 2>"$tmp/err" ||
  fail "bench --profile: $(head -2 "$tmp/err")"
check profile "$tmp/b7.json" "(p := d['decode_profile'])['steps'] == 6 and (ph := p['phases']) is not None and [e['name'] for e in ph] == ['embed', 'attn_norm', 'qkv', 'attention', 'attn_out', 'ffn_norm', 'gate_up', 'down', 'output'] and abs(sum(e['share'] for e in ph) - 1) < 1e-9 and sum(e['weight_bytes_per_step'] for e in ph) == d['weight_bytes_per_token'] and all((e['weight_gb_s'] is None) == (e['name'] not in ('qkv', 'attn_out', 'gate_up', 'down', 'output')) for e in ph) and all(e['ms_per_step'] >= 0 for e in ph)"
timeout 120 "$frugal" bench "$q8" -p 8 -n 2 -r 1 --ctx 32 --no-bandwidth --profile >"$tmp/b7.txt" 2>"$tmp/err" || fail "bench --profile (text)"
grep -q "^profile    a decode step by phase (2 steps)" "$tmp/b7.txt" || fail "bench --profile: no profile table in the text output"
[ "$(grep -c "weights at" "$tmp/b7.txt")" = 5 ] || fail "bench --profile: expected 5 product phases with a rate"
# no decode (-n 0): prefill only, nothing for a ceiling to compare with
timeout 120 "$frugal" bench "$q8" -p 8 -n 0 -r 1 --ctx 32 --json >"$tmp/b6.json" 2>"$tmp/err" || fail "bench -n 0"
check no-decode "$tmp/b6.json" "d['prefill_tok_s']['median'] > 0 and d['decode_tok_s']['median'] == 0 and d['bandwidth_gb_s'] is None and d['ceiling_fraction'] is None"
timeout 120 "$frugal" bench "$q8" --text "Hello world, this is a prompt" -n 2 -r 2 --ctx 64 --no-bandwidth --json \
  >"$tmp/b4.json" 2>"$tmp/err" || fail "bench --text: $(head -2 "$tmp/err")"
ntok=$("$frugal" tokenize "$q8" "Hello world, this is a prompt" | tr ',' '\n' | grep -c .)
check text-prompt "$tmp/b4.json" "d['n_prompt'] == $ntok and $ntok > 3"
timeout 120 "$frugal" bench "$f32" --quant q8_0 -p 8 -n 2 -r 1 --ctx 32 --no-bandwidth --json >"$tmp/b5.json" 2>"$tmp/err" \
  || fail "bench --quant: $(head -2 "$tmp/err")"
check quant "$tmp/b5.json" "d['weight_type'] == 'q8_0' and d['weight_bytes'] < d['file_size'] / 3"

# ---- text output -------------------------------------------------------------------------
timeout 120 "$frugal" bench "$q8" -p 8 -n 2 -r 1 --ctx 32 --no-bandwidth -v >"$tmp/t.txt" 2>"$tmp/err" || fail "bench text"
for w in prefill decode "first tok" "peak RSS" unaccounted "on 2 MiB pages"; do
  grep -q "$w" "$tmp/t.txt" || fail "bench text output lacks '$w'"
done

# ---- the suite's crash hook --------------------------------------------------------------
FG_SUITE_TEST_CRASH=1 timeout 60 "$frugal" bench "$q8" -p 8 -n 2 -r 1 --ctx 32 --no-bandwidth >/dev/null 2>&1
rc=$?
[ $rc -eq 134 ] || fail "FG_SUITE_TEST_CRASH=1: expected SIGABRT (134), got $rc"

# ---- bad input: non-zero exit, one line "frugal: ..." ------------------------------------
expect_error() {
  local name=$1; shift
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines; lines=$(wc -l <"$tmp/err")
  if [ $rc -eq 0 ] || [ $rc -ge 124 ] || [ "$lines" -ne 1 ] || ! grep -q '^frugal: ' "$tmp/err"; then
    fail "$name: exit $rc, $lines stderr lines: $(head -2 "$tmp/err")"
  fi
}
expect_error no-model "$frugal" bench
expect_error missing "$frugal" bench "$tmp/nope.gguf"
expect_error not-a-model "$frugal" bench "$tmp" --no-bandwidth
expect_error p-zero "$frugal" bench "$q8" -p 0
expect_error reps-zero "$frugal" bench "$q8" -r 0
expect_error reps-big "$frugal" bench "$q8" -r 65
expect_error ctx-small "$frugal" bench "$q8" -p 100 -n 10 --ctx 64 --no-bandwidth
expect_error bad-quant "$frugal" bench "$q8" --quant q3_k
expect_error bad-bw "$frugal" bench "$q8" --bandwidth -1
expect_error unknown "$frugal" bench "$q8" --frobnicate
expect_error two-models "$frugal" bench "$q8" "$q8"
expect_error no-value "$frugal" bench "$q8" -n
expect_error bad-report "$frugal" bench "$q8" -p 4 -n 1 -r 1 --ctx 16 --no-bandwidth --memory-report "$tmp/no/such/dir/m.json"

[ $fails -eq 0 ] && echo "cli_bench: all passed" || { echo "cli_bench: $fails failure(s)"; exit 1; }
