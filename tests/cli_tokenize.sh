#!/usr/bin/env bash
# `frugal tokenize`: the ids of the engine goldens' prompts (made by llama.cpp's tokenizer
# for the Qwen vocabulary), from the HF directory and from the GGUF; standard input read
# byte-exact; --no-special; --pieces; one-line errors.
set -u
bin=${FG_BIN:?} models=${FG_TEST_MODELS:?}
tok=$models/qwen-tokenizer gguf=$models/qwen2-tiny-f32.gguf
pass=0 failed=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then pass=$((pass + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected '$2', got '$3'"; fi
}
check hello "9707,11,1879,0" "$("$bin" tokenize "$tok" "Hello, world!")"
check hello-gguf "9707,11,1879,0" "$("$bin" tokenize "$gguf" "Hello, world!")"
chat='151644,8948,198,2610,525,264,10950,17847,13,151645,198,151644,872,198,3838,374,220,17,10,17,30,151645,198,151644,77091,198'
check chat-stdin "$chat" "$(printf '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n' | "$bin" tokenize "$tok" -)"
check chat-stdin-gguf "$chat" "$(printf '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n' | "$bin" tokenize "$gguf" -)"
# trailing newlines and invalid UTF-8 survive standard input (0x80 -> U+FFFD = 5691)
check stdin-bytes "64,5691,65,271" "$(printf 'a\x80b\n\n' | "$bin" tokenize "$tok" -)"
check no-special "27,91,318,6213,91,29" "$("$bin" tokenize "$tok" --no-special "<|im_end|>")"
check special "151645" "$("$bin" tokenize "$tok" "<|im_end|>")"
check pieces "$(printf '9707\t"Hello"\n11\t","\n1879\t"\xc4\xa0world"')" "$("$bin" tokenize "$tok" --pieces "Hello, world")"
err=$("$bin" tokenize "$models/does-not-exist" "x" 2>&1 >/dev/null); rc=$?
check missing-rc 1 "$rc"
check missing-msg 1 "$(printf '%s\n' "$err" | grep -c '^frugal: ')"
"$bin" tokenize "$tok" >/dev/null 2>&1; check usage-rc 1 "$?"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
