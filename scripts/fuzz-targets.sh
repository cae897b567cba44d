# Sourced by scripts/fuzz.sh and scripts/fuzz-soak.sh: sets `targets` to the arguments
# given, or else to every libFuzzer target of fuzz/ (fuzz/fuzz_NAME.c -> NAME).
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    [ "$t" = fuzz_util ] || targets+=("${t#fuzz_}")
  done
fi
