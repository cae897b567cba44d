#!/usr/bin/env python3
"""Regenerates the seed corpora of fuzz/corpus/<target>/ (committed; run by hand).

  fuzz/make_corpus.py FRUGAL_BIN MODELS_DIR

FRUGAL_BIN is a built `frugal` (for `frugal synth`), MODELS_DIR the tests' generated
models ($FG_TEST_MODELS, for the Qwen tokenizer and the q256 files whose headers are cut).
Seeds are small: micro models (hidden 32, one layer, 64 tokens), truncated real headers,
cut-down tokenizer.json files, the test templates, a few texts and conversations."""
import json, lzma, os, shutil, struct, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
frugal, models = sys.argv[1], sys.argv[2]
out = os.path.join(root, "fuzz", "corpus")
data = os.path.join(root, "tests", "data")
tmp = tempfile.mkdtemp()


def put(target, name, blob):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(blob, str):
        blob = blob.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def read(p):
    with open(p, "rb") as f:
        return f.read()


# seeds are overwritten in place: fuzz/corpus/*/regress-* (inputs that once failed) stay

# ---- micro models (frugal synth) -----------------------------------------------------
qtok = os.path.join(models, "qwen-tokenizer")
micro = {}
for arch in ("qwen2", "qwen3", "llama"):
    cfg = {"name": arch + "-micro", "architecture": arch, "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 64,
           "vocab_cut": 64, "rope_theta": 10000.0, "rms_norm_eps": 1e-06, "tie_word_embeddings": arch != "llama",
           "max_position_embeddings": 64, "bos_token_id": 0, "eos_token_id": 1, "seed": 7}
    cp = os.path.join(tmp, arch + ".json")
    with open(cp, "w") as f:
        json.dump(cfg, f)
    micro[arch] = cp
    put("hf_config", arch + "-synth-input.json", json.dumps(cfg))


def synth(arch, outp, *args):
    subprocess.run([frugal, "synth", micro[arch], outp, "--threads", "1", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return outp


for arch, dt, tok in (("qwen2", "f32", True), ("qwen3", "q8_0", True), ("llama", "q4_0", False),
                      ("qwen2", "f16", False), ("llama", "bf16", False)):
    p = synth(arch, os.path.join(tmp, f"{arch}-{dt}.gguf"), "--dtype", dt,
              *(["--tokenizer", qtok] if tok else ["--no-tokenizer"]))
    put("model_load", f"{arch}-micro-{dt}.seed", read(p))
    if tok:
        put("gguf", f"{arch}-micro-{dt}.seed", read(p))
for arch in ("qwen2", "qwen3", "llama"):
    d = synth(arch, os.path.join(tmp, arch + "-hf"), "--format", "hf", "--dtype", "bf16", "--tokenizer", qtok)
    put("safetensors", f"{arch}-micro-bf16.safetensors", read(os.path.join(d, "model.safetensors")))
    put("hf_config", f"{arch}-micro-config.json", read(os.path.join(d, "config.json")))
    if arch == "qwen2":
        put("tokenizer_json", "qwen-cut64.json", read(os.path.join(d, "tokenizer.json")) + b"\n#CONFIG#\n" +
            read(os.path.join(d, "tokenizer_config.json")))

# ---- truncated real headers -----------------------------------------------------------
for name, n in (("qwen2-q256-q4_k_m.gguf", 4096), ("qwen2-q256-q8_0.gguf", 65536), ("qwen2-q256-f32.gguf", 700)):
    put("gguf", f"{name}.head{n}", read(os.path.join(models, name))[:n])
st = read(os.path.join(models, "qwen2-q256-hf", "model.safetensors"))
hl = struct.unpack("<Q", st[:8])[0]
put("safetensors", "q256-header-only.safetensors", st[:8 + hl])
put("safetensors", "q256-truncated.safetensors", st[:8 + hl + 1000])
for m in ("qwen2-tiny-hf", "llama-tiny-hf", "qwen3-tiny-hf"):
    put("hf_config", m + ".json", read(os.path.join(models, m, "config.json")))
put("hf_config", "llama3-rope.json", json.dumps({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": True,
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16", "head_dim": 64,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}}))

# ---- a SentencePiece GGUF tokenizer (tokenizer.ggml.model = llama), written by hand ---


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


l2 = json.loads(lzma.open(os.path.join(data, "tokenizers", "llama2", "tokenizer.json.xz")).read())
vocab = sorted(l2["model"]["vocab"].items(), key=lambda kv: kv[1])
keep = [p for p, i in vocab[:259]]                     # <unk> <s> </s> and the 256 byte tokens
keep += [p for p, i in vocab if i >= 259 and (len(p) <= 2 or (p.startswith("\u2581") and len(p) <= 3))][:300]
keep.append("\u2581")
kv = []
kv.append(gguf_str("general.architecture") + struct.pack("<I", 8) + gguf_str("llama"))
kv.append(gguf_str("tokenizer.ggml.model") + struct.pack("<I", 8) + gguf_str("llama"))
kv.append(gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(keep)) + b"".join(gguf_str(p) for p in keep))
kv.append(gguf_str("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, len(keep)) +
          b"".join(struct.pack("<f", -float(i)) for i in range(len(keep))))
types = [2, 3, 3] + [6] * 256 + [1] * (len(keep) - 259)
kv.append(gguf_str("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, len(keep)) +
          b"".join(struct.pack("<i", t) for t in types))
for k, v in (("bos_token_id", 1), ("eos_token_id", 2), ("unknown_token_id", 0)):
    kv.append(gguf_str("tokenizer.ggml." + k) + struct.pack("<II", 4, v))
kv.append(gguf_str("tokenizer.ggml.add_bos_token") + struct.pack("<IB", 7, 1))
kv.append(gguf_str("tokenizer.chat_template") + struct.pack("<I", 8) +
          gguf_str(read(os.path.join(data, "templates", "microsoft-Phi-3.5-mini-instruct.jinja")).decode()))
put("gguf", "spm-tokenizer-only.seed", b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv))
put("gguf", "empty-v2.seed", b"GGUF" + struct.pack("<IQQ", 2, 0, 0))

# ---- tokenizer.json: a cut-down SentencePiece one (Llama 2) ----------------------------
sv = {p: i for i, p in enumerate(keep)}
merges = []
for m in l2["model"]["merges"]:
    a, b = m.split(" ") if isinstance(m, str) else m
    if a in sv and b in sv and a + b in sv:
        merges.append(m)
cut = dict(l2)
cut["model"] = dict(l2["model"], vocab=sv, merges=merges)
cut["added_tokens"] = [t for t in l2["added_tokens"] if t["id"] < 3]
put("tokenizer_json", "llama2-cut.json", json.dumps(cut, ensure_ascii=False) + "\n#CONFIG#\n" +
    read(os.path.join(data, "tokenizers", "llama2", "tokenizer_config.json")).decode())
put("tokenizer_json", "bytelevel-minimal.json", json.dumps({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3}, "merges": ["a b"]},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
    "decoder": {"type": "ByteLevel"},
    "added_tokens": [{"id": 4, "content": "<|end|>", "special": True, "lstrip": False, "rstrip": False,
                      "single_word": False, "normalized": False}]}))

# ---- texts for the encoder ------------------------------------------------------------
texts = {
    "en": "Hello, world! It's 2024; we're testing   spaces\tand\nnewlines.",
    "multi": "caf\u00e9 na\u00efve \u4f60\u597d\u4e16\u754c \u3053\u3093\u306b\u3061\u306f \u0645\u0631\u062d\u0628\u0627 \U0001F600\U0001F44D\U0001F3FD e\u0301",
    "special": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n</think>\n<s></s>",
    "code": "def f(x):\n    return x**2  # \u2192 square\n\n\n    if (a && b) { y[i] = 0x1F; }",
    "digits": "1234567890 3.14159 -42 1e-05 \u0661\u0662\u0663",
}
for i, (name, t) in enumerate(texts.items()):
    put("tok_encode", name, bytes([i % 8]) + t.encode())
put("tok_encode", "invalid-utf8", b"\x03ab\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf")

# ---- chat templates ---------------------------------------------------------------------
tdir = os.path.join(data, "templates")
for f in sorted(os.listdir(tdir)):
    if f.endswith(".jinja"):
        put("chat_template", f, read(os.path.join(tdir, f)))
probes = json.load(open(os.path.join(tdir, "jinja2-probes.json")))
items = probes if isinstance(probes, list) else probes.get("probes", probes.get("cases", []))
n = 0
for it in items:
    src = it.get("template") if isinstance(it, dict) else None
    if src and n < 150:
        put("chat_template", f"probe-{n:03d}.jinja", src)
        n += 1
convs = [
    (0, 0x11, [(0, "You are helpful."), (1, "Hi"), (2, "Hello!"), (1, "2+2?")]),
    (1, 0x03, [(1, "Think about <think>x</think>"), (2, "<think>\nok\n</think>\n\nFour.")]),
    (2, 0x31, [(0, "sys"), (1, "{{ raise_exception('x') }} {% for %}"), (3, "{\"r\": 1}")]),
    (3, 0x05, [(1, "caf\u00e9 \U0001F600"), (2, "")]),
    (4, 0x01, [(1, "a"), (2, "b"), (1, "c")]),
    (5, 0x01, [(0, "s"), (1, "u")]),
    (6, 0x21, [(1, "builtin chatml")]),
]
for i, (tmpl, flags, msgs) in enumerate(convs):
    put("chat_render", f"conv-{i}", bytes([tmpl, flags]) + b"\0".join(bytes([r]) + c.encode() for r, c in msgs))
# ---- server requests: config byte, "METHOD URL", headers, empty line, body -------------
def request(cfg, method, url, body=None, headers=()):
    h = list(headers)
    if body is not None:
        body = body if isinstance(body, str) else json.dumps(body)
        h = ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"] + h
    return bytes([cfg]) + (f"{method} {url}\r\n" + "".join(x + "\r\n" for x in h) + "\r\n" + (body or "")).encode()


chat = {"model": "qwen-fuzz", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
reqs = {
    "chat-plain": (0, "POST", "/v1/chat/completions", chat),
    "chat-stream": (0, "POST", "/v1/chat/completions", dict(chat, stream=True, stream_options={"include_usage": True})),
    "chat-params": (0, "POST", "/v1/chat/completions", dict(chat, max_tokens=8, temperature=0.7, top_p=0.9, top_k=40,
                                                              min_p=0.05, seed=42, stop=["\n\n", "END"], n=1,
                                                              presence_penalty=0.5, frequency_penalty=0.1,
                                                              repeat_penalty=1.1, return_token_ids=True)),
    "chat-parts": (0, "POST", "/v1/chat/completions", {"model": "m", "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "q"}, {"role": "assistant", "content": None}, {"role": "tool", "content": "t"}],
        "max_completion_tokens": 4, "stop": "x", "tools": [], "response_format": {"type": "text"}}),
    "chat-key": (1, "POST", "/v1/chat/completions", chat, ("Authorization: Bearer sk-fuzz",)),
    "chat-badkey": (1, "POST", "/v1/chat/completions", chat, ("Authorization: Bearer nope",)),
    "chat-notemplate": (2, "POST", "/v1/chat/completions", chat),
    "chat-small": (4, "POST", "/v1/chat/completions", dict(chat, max_tokens=60)),
    "chat-stopping": (8, "POST", "/v1/chat/completions", chat),
    "cmpl-text": (0, "POST", "/v1/completions", {"model": "m", "prompt": "Once upon a time", "max_tokens": 16,
                                                  "stop": ["."], "stream": False}),
    "cmpl-stream": (0, "POST", "/v1/completions", {"model": "m", "prompt": ["Hello"], "stream": True}),
    "cmpl-ids": (0, "POST", "/v1/completions", {"model": "m", "prompt": [[1, 2, 3, 151643]], "echo": False,
                                                 "best_of": 1, "logprobs": None, "suffix": None}),
    "cmpl-small": (4, "POST", "/v1/completions", {"model": "m", "prompt": "x " * 100}),
    "bad-json": (0, "POST", "/v1/chat/completions", '{"model": "m", "messages": [{"role": "user", "content": "Hi"}'),
    "bad-types": (0, "POST", "/v1/chat/completions", {"model": 1, "messages": "hi", "temperature": "hot",
                                                       "max_tokens": 2.5, "stop": [1, 2]}),
    "bad-values": (0, "POST", "/v1/chat/completions", dict(chat, temperature=9, n=3, stop=["a", "b", "c", "d", "e"],
                                                             logprobs=True, tools=[{"type": "function"}])),
    "bad-role": (0, "POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "wizard", "content": "x"},
                                                                               {"content": [{"type": "image_url"}]}]}),
    "bad-prompt": (0, "POST", "/v1/completions", {"model": "m", "prompt": [-1, 1e9, "x"], "max_tokens": 0}),
    "empty-body": (0, "POST", "/v1/completions", ""),
    "array-body": (0, "POST", "/v1/completions", "[1,2]"),
    "too-large": (0, "POST", "/v1/completions", "{}", ("Content-Length: 99999999999",)),
    "get-models": (1, "GET", "/v1/models", None, ("Authorization: Bearer sk-fuzz",)),
    "get-model": (0, "GET", "/v1/models/qwen-fuzz", None),
    "get-memory": (0, "GET", "/v1/memory?window=60&points=abc", None),
    "head-health": (0, "HEAD", "/health", None),
    "get-web": (0, "GET", "/", None),
    "wrong-method": (0, "GET", "/v1/chat/completions", None),
    "unknown-url": (0, "DELETE", "/v2/nothing", None),
}
for name, r in reqs.items():
    put("serve_request", name, request(r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else ()))

# ---- suite files ------------------------------------------------------------------------
suites = {
    "full": {"name": "t", "models": ["a.gguf", {"path": "dir/b/", "quant": "Q8_0", "ctx": 512, "timeout_s": 2.5,
                                                "env": {"X": "1"}}], "prompt_tokens": 10, "gen_tokens": 0, "reps": 5,
             "ctx": 1024, "threads": 2, "mem_limit": "7.4G", "fit": True, "timeout_s": 30},
    "minimal": {"models": ["a.gguf"]},
    "prompts": {"models": [{"path": "m/", "name": "m1"}], "prompts": ["Hello", "caf\u00e9"], "mem_limit": 1 << 30},
    "mem-null": {"models": ["x"], "mem_limit": None, "threads": 0},
    "bad-reps": {"models": ["a.gguf"], "reps": 0},
    "bad-field": {"models": ["a.gguf"], "colour": "red"},
    "fit-no-limit": {"models": ["a.gguf"], "fit": True},
    "bad-quant": {"models": [{"path": "a.gguf", "quant": "q2"}]},
    "bad-name": {"models": [{"path": "a", "name": "../x"}]},
    "bad-env": {"models": [{"path": "a", "env": {"X": 1}}]},
    "no-path": {"models": [{"name": "x"}]},
    "empty-models": {"models": []},
    "not-object": [1],
}
for name, v in suites.items():
    put("suite_spec", name + ".json", json.dumps(v))
put("suite_spec", "bad-json.json", '{"models": [')
shutil.rmtree(tmp)
