#!/usr/bin/env bash
# frugal and llama.cpp side by side on this machine, now: the speed targets of issue 4
# compare with llama.cpp, and ../shared/PEERS.md's figures come from another CPU (an AMD
# EPYC) and another day, while this VM's memory bandwidth moves by half within minutes.
# So each round runs `frugal bench -r 1` and then llama.cpp (bench/peer/peer.mjs:
# node-llama-cpp's prebuilt llama.cpp, its kernels chosen for this CPU at run time) on
# the same file with the same settings (2 threads, --ctx 4096, a 392-token prompt, 128
# generated tokens), and the table gives each side's median over the rounds and the
# ratio of the medians. Writes a Markdown table (and every run's JSON) and prints it.
#
#   bench/peer.sh [-o OUT.md] [-s "qwen2.5-0.5b qwen2.5-1.5b"] [-t "q8_0 q4_k_m"] [-r ROUNDS]
#   (-r: rounds, 3 by default)
#
# Needs Node.js and npm (the first run installs bench/peer/node_modules from the npm
# registry with `npm ci --ignore-scripts --omit=optional`; x86-64 Linux: the prebuilt
# package is linux-x64). Models as in bench/bench.sh (bench/common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
types="q8_0 q4_k_m"
. bench/common.sh
bench_args peer.sh "$@"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "peer.sh: needs node and npm" >&2
  exit 1
fi
[ "$(uname -m)" = x86_64 ] || { echo "peer.sh: the pinned llama.cpp build is linux-x64's; this is $(uname -m)" >&2; exit 1; }
if [ ! -d bench/peer/node_modules/@node-llama-cpp/linux-x64 ]; then
  echo "installing bench/peer (node-llama-cpp)" >&2
  (cd bench/peer && npm ci --ignore-scripts --omit=optional --no-audit --no-fund >&2)
fi
bench_start peer

for shape in $shapes; do
  for type in $types; do
    spec=$(model "$shape" "$type")
    [[ $spec == *--quant* ]] && { echo "peer.sh: no $type file for $shape (llama.cpp needs one): skipped" >&2; continue; }
    name=$shape-$type
    for r in $(seq 1 "$reps"); do
      echo "round $r: $name" >&2
      "$frugal" bench "$spec" --threads 2 --ctx 4096 -p 392 -n 128 -r 1 --json > "$dir/$name.frugal.$r.json" \
        || echo "peer.sh: frugal on $name failed" >&2
      node bench/peer/peer.mjs "$spec" --threads 2 --ctx 4096 -p 392 -n 128 > "$dir/$name.llama.$r.json" \
        || echo "peer.sh: llama.cpp on $name failed" >&2
    done
  done
done

python3 - "$dir" "$out" "$reps" $shapes -- $types <<'PY'
import json, os, statistics, sys
dir, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rest = sys.argv[4:]
shapes, types = rest[:rest.index("--")], rest[rest.index("--") + 1:]
MiB = 1024 * 1024

def runs(name, side):
    got = []
    for r in range(1, rounds + 1):
        try:
            got.append(json.load(open(os.path.join(dir, f"{name}.{side}.{r}.json"))))
        except Exception:
            pass
    return got

def med(xs):
    return statistics.median(xs) if xs else None

def fmt(xs, nd):
    if not xs:
        return "failed"
    return f"{med(xs):.{nd}f} ({min(xs):.{nd}f}-{max(xs):.{nd}f})"

def ratio(a, b):
    return f"{med(a) / med(b):.2f}x" if a and b else "-"

rows, peer, cpu = [], None, None
for s in shapes:
    for t in types:
        name = f"{s}-{t}"
        f, l = runs(name, "frugal"), runs(name, "llama")
        if not f and not l:
            continue
        fp = [d["prefill_tok_s"]["median"] for d in f]
        fd = [d["decode_tok_s"]["median"] for d in f]
        lp = [d["prefill_tok_s"] for d in l]
        ld = [d["decode_tok_s"] for d in l]
        fc = [d["ceiling_fraction"] * 100 for d in f if d.get("ceiling_fraction")]
        frss = max((d["peak_rss"] for d in f), default=0)
        lrss = max((d["peak_rss"] - d["base_rss"] for d in l), default=0)
        if l:
            peer, cpu = l[0]["peer"], l[0]["cpu"]
        rows.append(f"| {s} | {t} | {fmt(fp, 1)} | {fmt(lp, 1)} | {ratio(fp, lp)} "
                    f"| {fmt(fd, 2)} | {fmt(ld, 2)} | {ratio(fd, ld)} | {fmt(fc, 0)}% "
                    f"| {frss / MiB:.0f} MiB | {lrss / MiB:.0f} MiB |")
head = ["# frugal and llama.cpp on this machine", "",
        f"{rounds} rounds, each `frugal bench -r 1` then {peer or 'llama.cpp'} on the same file: 2 threads, "
        "--ctx 4096, a 392-token prompt, 128 generated tokens (median over the rounds, min-max; the ratio is "
        "frugal's median over llama.cpp's; frugal's decode vs the bandwidth ceiling it measures in the same run, as in bench.sh). llama.cpp's peak RSS is its process's VmHWM less Node's own before "
        f"the model loads. llama.cpp's CPU features: {cpu or '-'}. Runs in {dir}.", "",
        "| shape | type | frugal prefill tok/s | llama.cpp prefill tok/s | prefill ratio "
        "| frugal decode tok/s | llama.cpp decode tok/s | decode ratio | frugal decode vs ceiling "
        "| frugal peak RSS | llama.cpp peak RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
text = "\n".join(head + rows) + "\n"
open(out, "w").write(text)
print(text)
print(f"written: {out}")
PY
