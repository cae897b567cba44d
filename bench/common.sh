# shellcheck shell=bash
# Sourced by the bench/ scripts, from the repository root.
# shellcheck disable=SC2034,SC2154  # the scripts read frugal, out, shapes, reps; they own types

# What every script starts from (the caller sets types, its own default, before sourcing)
frugal=${FRUGAL:-build/frugal}
shapes="qwen2.5-0.5b qwen2.5-1.5b"
reps=3
out=""

# bench_args NAME "$@": the options every bench script takes, into out (-o), shapes (-s),
# types (-t) and reps (-r), over the defaults above; then checks $frugal is built
bench_args() {
  local name=$1 opt OPTIND
  shift
  while getopts "o:s:t:r:" opt; do
    case $opt in
      o) out=$OPTARG ;;
      s) shapes=$OPTARG ;;
      t) types=$OPTARG ;;
      r) reps=$OPTARG ;;
      *) echo "usage: bench/$name [-o OUT.md] [-s SHAPES] [-t TYPES] [-r REPS]" >&2; exit 2 ;;
    esac
  done
  [[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "$name: -r wants a positive number of repetitions, not '$reps'" >&2; exit 2; }
  [ -x "$frugal" ] || { echo "$name: $frugal not built (scripts/setup.sh)" >&2; exit 1; }
}

# bench_start KIND: a fresh reports/KIND-<date>-<time> directory in dir (the runs' JSON),
# out defaulting to dir/KIND.md, and models_init
bench_start() {
  dir=reports/$1-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$dir" models
  [ -n "$out" ] || out=$dir/$1.md
  models_init
}

# models_init, then model SHAPE TYPE prints "PATH [--quant TYPE]" for models/SHAPE-TYPE.gguf,
# generating the file first when it is missing: `frugal synth` where synth writes the
# type, else `frugal quantize` of the F16 file, else the F16 file with `--quant TYPE`
# (converted while loading). The synthetic models carry the real Qwen tokenizer
# (tests/data/tokenizers/qwen).
models_init() {
  tok=models/qwen-tokenizer
  if [ ! -f $tok/tokenizer.json ]; then
    mkdir -p $tok
    xz -dc tests/data/tokenizers/qwen/tokenizer.json.xz > $tok/tokenizer.json.tmp && mv $tok/tokenizer.json.tmp $tok/tokenizer.json
    cp tests/data/tokenizers/qwen/tokenizer_config.json $tok/
  fi
  synth_help=$("$frugal" synth --help 2>&1 || true)
  has_quantize=0
  "$frugal" quantize --help >/dev/null 2>&1 && has_quantize=1
}

# model SHAPE TYPE -> prints "PATH [--quant TYPE]"
model() {
  local shape=$1 type=$2 f=models/$1-$2.gguf
  if [ ! -f "$f" ]; then
    if [[ $type =~ ^(f32|f16|bf16)$ ]] || grep -qw "$type" <<<"$synth_help"; then
      echo "generating $f" >&2
      "$frugal" synth "$shape" "$f.tmp" --format gguf --dtype "$type" --tokenizer $tok >&2 && mv "$f.tmp" "$f"
    elif [ $has_quantize = 1 ]; then
      local src; src=$(model "$shape" f16)
      echo "quantizing $src to $f" >&2
      "$frugal" quantize "$src" "$f.tmp" --type "$type" >&2 && mv "$f.tmp" "$f"
    else
      echo "$(model "$shape" f16) --quant $type"
      return
    fi
  fi
  echo "$f"
}
