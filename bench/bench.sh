#!/usr/bin/env bash
# Issue 4's benchmark set: `frugal bench` on generated Qwen2.5-0.5B and -1.5B shapes in
# each weight type, 2 threads, --ctx 4096, a 392-token prompt, 128 generated tokens,
# 3 repetitions (medians, with min-max), the read bandwidth (the rate at which the threads
# stream the weights one token reads, in place) measured around every repetition.
# Writes a Markdown table (and each run's JSON) and prints the table.
#
#   bench/bench.sh [-o OUT.md] [-s "qwen2.5-0.5b qwen2.5-1.5b"] [-t "f16 q8_0 q4_k_m"] [-r REPS]
#
# Models are generated into models/ (git-ignored) by `frugal synth` unless present:
# models/<shape>-<type>.gguf. Quantized files come from `frugal synth --dtype TYPE` when
# synth can write that type, else from `frugal quantize` of the F16 file when that
# command exists; otherwise the F16 file is benchmarked with `--quant TYPE` (converted
# while loading; the table says so, and its file-size columns are then the F16 file's).
# The llama.cpp figures are ../shared/PEERS.md's, measured on this machine kind.
set -euo pipefail
cd "$(dirname "$0")/.."
types="f16 q8_0 q4_k_m"
. bench/common.sh
bench_args bench.sh "$@"
bench_start bench

for shape in $shapes; do
  for type in $types; do
    spec=$(model "$shape" "$type")
    name=$shape-$type
    echo "bench $name ($spec)" >&2
    [[ $spec == *--quant* ]] && touch "$dir/$name.converted"
    # shellcheck disable=SC2086
    "$frugal" bench $spec --threads 2 --ctx 4096 -p 392 -n 128 -r "$reps" --json \
      --memory-report "$dir/$name.memory.json" > "$dir/$name.json" || echo "bench.sh: $name failed" >&2
  done
done

python3 - "$dir" "$out" $shapes -- $types <<'PY'
import json, os, sys
dir, out = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
shapes, types = rest[:rest.index("--")], rest[rest.index("--") + 1:]
MiB = 1024 * 1024
# llama.cpp on this machine kind (../shared/PEERS.md): decode / prefill tok/s
peers = {("qwen2.5-0.5b", "q8_0"): (43.0, 242.0), ("qwen2.5-1.5b", "q4_k_m"): (27.4, 85.0)}
rows = []
for s in shapes:
    for t in types:
        p = os.path.join(dir, f"{s}-{t}.json")
        try:
            d = json.load(open(p))
        except Exception:
            rows.append(f"| {s} | {t} | failed | | | | | | | | |")
            continue
        conv = " (converted on load)" if os.path.exists(os.path.join(dir, f"{s}-{t}.converted")) else ""
        pf, dc, tt = d["prefill_tok_s"], d["decode_tok_s"], d["ttft_ms"]
        ceil = "-"
        if d.get("ceiling_fraction"):
            bw = d.get("bandwidth_gb_s_runs") or [d["bandwidth_gb_s"]]
            ceil = (f"{100 * d['ceiling_fraction']:.0f}% of {d['ceiling_tok_s']:.1f} "
                    f"({min(bw):.1f}-{max(bw):.1f} GB/s; whole decode {100 * dc['median'] / d['ceiling_tok_s']:.0f}%)")
        over = d["peak_rss"] - d["file_size"] - d["kv_used"]
        peer = peers.get((s, t))
        target = f"{peer[0]:g} / {peer[1]:g}" if peer else "-"
        met = ""
        if peer:
            met = "yes" if dc["median"] >= peer[0] and pf["median"] >= peer[1] else "no"
        rows.append(f"| {s} | {d['weight_type']}{conv} | {d['file_size'] / MiB:.0f} MiB "
                    f"| {pf['median']:.1f} ({pf['min']:.1f}-{pf['max']:.1f}) "
                    f"| {dc['median']:.2f} ({dc['min']:.2f}-{dc['max']:.2f}) | {ceil} "
                    f"| {tt['median'] / 1000:.2f} s | {d['peak_rss'] / MiB:.0f} MiB | {d['kv_used'] / MiB:.1f} MiB "
                    f"| {over / MiB:+.1f} MiB {'ok' if over <= 64 * MiB else 'OVER'} | {target} {met} |")
any_d = None
for f in sorted(os.listdir(dir)):
    if f.endswith(".json") and not f.endswith(".memory.json"):
        try:
            any_d = json.load(open(os.path.join(dir, f))); break
        except Exception:
            pass
head = ["# frugal bench", ""]
if any_d:
    head.append(f"{any_d['n_threads']} threads ({any_d['isa']}), ctx {any_d['n_ctx']}, prompt {any_d['n_prompt']} tokens, "
                f"{any_d['n_gen']} generated, {any_d['reps']} repetitions (median, min-max); the read bandwidth "
                f"(the rate at which the threads stream the weights a token reads, in place) is measured after every repetition in "
                f"{any_d.get('ceiling_pairs') or 0} pairs of such a read and a decode step next to it; a pair's fraction is read time / step time, "
                f"a repetition's the median over its pairs, the figure the median over repetitions (GB/s: the range of the repetitions' "
                f"medians; 'whole decode': the decode median / the ceiling median, two figures taken at different moments); runs in {dir}")
    head.append("")
head += ["| shape | type | file | prefill tok/s | decode tok/s | decode vs bandwidth ceiling | first token "
         "| peak RSS | KV used | peak - file - KV (target <= 64 MiB) | llama.cpp decode / prefill, met |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
text = "\n".join(head + rows) + "\n"
open(out, "w").write(text)
print(text)
print(f"written: {out}")
PY
