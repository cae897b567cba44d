#!/usr/bin/env python3
"""End-to-end tests of `frugal serve` against the real server on loopback ports, with the
tiny synthetic models. Python standard library only (run by tests/cli_serve.sh).

What must hold, and against what:
  - greedy decoding through the API gives the golden greedy tokens of
    tests/data/golden/gold-llama-tiny-f32.json (an independent implementation's) and the
    same tokens as `frugal run`; prompts tokenize to the golden ids; the text equals an
    independent byte-level BPE decode of those tokens (written here, from tokenizer.json);
  - streamed and non-streamed answers agree; stop strings, max_tokens, usage counts;
  - every 4xx case answers with OpenAI's error shape;
  - a client that disconnects frees its slot (queued or running);
  - 50 concurrent clients are answered or refused with 429/503, and RSS stays bounded;
  - the memory budget stops growth with finish_reason "memory_budget";
  - SIGTERM ends streams cleanly ([DONE]), refuses queued requests with 503, exits 0.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

BIN = os.environ["FG_BIN"]
MODELS = os.environ["FG_TEST_MODELS"]
DATA = os.environ["FG_TEST_DATA"]
LLAMA = os.path.join(MODELS, "llama-tiny-f32.gguf")
with open(BIN, "rb") as _f:
    SANITIZED = b"__asan_init" in _f.read()

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, flush=True)
    return cond


def eq(got, want, what):
    return check(got == want, "%s: got %r, want %r" % (what, got, want))


# ---- an independent decoder: byte-level BPE pieces -> bytes (GPT-2's byte mapping) ------
def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class Decoder:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        self.inv = {i: p for p, i in tj["model"]["vocab"].items()}
        self.added = {t["id"]: t for t in tj["added_tokens"]}
        self.bd = byte_decoder()

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            if i in self.added:
                if not self.added[i]["special"]:
                    out += self.added[i]["content"].encode()
                continue
            out += bytes(self.bd[c] for c in self.inv[i])
        return out.decode("utf-8", errors="replace")


# ---- the server under test -----------------------------------------------------------------
class Server:
    def __init__(self, model, *args, expect_start=True):
        cmd = [BIN, "serve", model, "--port", "0", "--threads", "1"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        line = self.proc.stdout.readline()
        if "http://" in line:
            self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
        elif expect_start:
            err = self.proc.stderr.read()
            raise RuntimeError("server did not start: %r %r" % (line, err))

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        c.close()
        return r.status, dict(r.getheaders()), payload

    def json(self, method, path, body=None, headers=None, raw=None):
        status, h, payload = self.request(method, path, body, headers, raw)
        try:
            return status, h, json.loads(payload)
        except ValueError:
            return status, h, payload

    def stream(self, path, body, headers=None):
        """POSTs with stream=true; returns (status, events) with events the parsed data
        lines and the string '[DONE]'."""
        c = self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        if r.status != 200:
            payload = r.read()
            c.close()
            return r.status, json.loads(payload)
        events = []
        for line in r:
            line = line.decode().rstrip("\n")
            if not line.startswith("data: "):
                continue
            d = line[6:]
            events.append(d if d == "[DONE]" else json.loads(d))
        c.close()
        return 200, events

    def status_file(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return {l.split(":")[0]: l.split(":")[1].strip() for l in f if ":" in l}

    def rss_kib(self, key="VmRSS"):
        return int(self.status_file()[key].split()[0])

    def health(self):
        return self.json("GET", "/health")[2]

    def metric(self, name):
        total = 0.0
        for line in self.request("GET", "/metrics")[2].decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_for(self, pred, what, timeout=20):
        t = time.time() + timeout
        while time.time() < t:
            if pred():
                return True
            time.sleep(0.05)
        return check(False, "timed out waiting for " + what)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def raw_post(port, path, body):
    """Sends a request on a plain socket and returns the socket (to close it early)."""
    s = socket.create_connection(("127.0.0.1", port))
    data = json.dumps(body).encode()
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def is_error_shape(body, status, what):
    ok = isinstance(body, dict) and isinstance(body.get("error"), dict)
    e = body.get("error", {}) if ok else {}
    ok = ok and isinstance(e.get("message"), str) and e["message"] and isinstance(e.get("type"), str)
    ok = ok and "param" in e and "code" in e
    return check(ok, "%s: error body in OpenAI's shape (status %d): %r" % (what, status, body))


def text_of(events, chat):
    out = ""
    for e in events:
        if e == "[DONE]" or not e.get("choices"):
            continue
        c = e["choices"][0]
        out += (c["delta"].get("content") or "") if chat else c["text"]
    return out


def finish_of(events):
    for e in events:
        if e != "[DONE]" and e.get("choices") and e["choices"][0].get("finish_reason"):
            return e["choices"][0]["finish_reason"], e
    return None, None


def frugal_run(model, ids, n):
    out = subprocess.run([BIN, "run", model, "--ids", ",".join(map(str, ids)), "-n", str(n), "--threads", "1"],
                         capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split("greedy:")[1].split()]


# ---- the tests --------------------------------------------------------------------------------
def test_greedy(srv, gold, dec):
    """Completions and chat, streamed and not, against the goldens and `frugal run`."""
    for p in gold["prompts"]:
        want = p["reference_greedy"]
        n = len(want)
        body = {"model": "m", "prompt": p["text"], "max_tokens": n, "temperature": 0, "return_token_ids": True}
        st, _, r = srv.json("POST", "/v1/completions", body)
        if not eq(st, 200, "completion status"):
            print(r)
            continue
        eq(r["prompt_token_ids"], p["ids"], "completion prompt tokens (%.20r)" % p["text"])
        got = r["choices"][0]["token_ids"]
        eq(got, want, "greedy completion tokens vs golden (%.20r)" % p["text"])
        eq(got, frugal_run(LLAMA, p["ids"], n), "greedy completion tokens vs frugal run")
        eq(r["choices"][0]["text"], dec.decode(want), "completion text vs independent decode")
        eq(r["choices"][0]["finish_reason"], "length", "finish_reason at max_tokens")
        u = r["usage"]
        eq((u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]), (len(p["ids"]), n, len(p["ids"]) + n),
           "usage counts")
        # the same streamed
        st, ev = srv.stream("/v1/completions", dict(body, stream=True, stream_options={"include_usage": True}))
        eq(st, 200, "streamed completion status")
        eq(ev[-1], "[DONE]", "stream ends with [DONE]")
        eq(text_of(ev, False), r["choices"][0]["text"], "streamed text == non-streamed text")
        fin, last = finish_of(ev)
        eq(fin, "length", "streamed finish_reason")
        eq(last["choices"][0].get("token_ids"), want, "streamed tokens vs golden")
        usage = [e for e in ev if e != "[DONE]" and e.get("usage")]
        check(len(usage) == 1 and usage[0]["usage"]["completion_tokens"] == n and usage[0]["choices"] == [],
              "one usage chunk in the stream with include_usage")
        eq(usage[0]["usage"]["prompt_tokens_details"]["cached_tokens"], len(p["ids"]) - 1,
           "the repeated prompt is found in the KV cache")

    # chat: the template renders the golden ChatML prompt
    chat = gold["prompts"][1]
    want = chat["reference_greedy"]
    msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}]
    body = {"model": "m", "messages": msgs, "max_tokens": len(want), "temperature": 0, "return_token_ids": True}
    st, _, r = srv.json("POST", "/v1/chat/completions", body)
    if eq(st, 200, "chat status"):
        eq(r["object"], "chat.completion", "chat object")
        eq(r["prompt_token_ids"], chat["ids"], "chat template + tokenizer give the golden prompt ids")
        eq(r["choices"][0]["token_ids"], want, "greedy chat tokens vs golden")
        eq(r["choices"][0]["message"]["role"], "assistant", "chat role")
        eq(r["choices"][0]["message"]["content"], dec.decode(want), "chat text vs independent decode")
        eq(r["usage"]["prompt_tokens"], len(chat["ids"]), "chat prompt_tokens")
    st, ev = srv.stream("/v1/chat/completions", dict(body, stream=True))
    if eq(st, 200, "streamed chat status"):
        eq(ev[0]["choices"][0]["delta"].get("role"), "assistant", "first chunk carries the role")
        eq(ev[0]["object"], "chat.completion.chunk", "chunk object")
        eq(text_of(ev, True), dec.decode(want), "streamed chat text")
        eq(finish_of(ev)[1]["choices"][0]["token_ids"], want, "streamed chat tokens vs golden")
        eq(ev[-1], "[DONE]", "chat stream ends with [DONE]")
    # content as an array of text parts renders the same
    parts = [{"role": "system", "content": [{"type": "text", "text": "You are a helpful "},
                                            {"type": "text", "text": "assistant."}]}, msgs[1]]
    st, _, r = srv.json("POST", "/v1/chat/completions", dict(body, messages=parts, max_tokens=1))
    eq(r.get("prompt_token_ids") if st == 200 else st, chat["ids"], "content parts are joined")
    # token-id prompts
    ids = gold["prompts"][0]["ids"]
    st, _, r = srv.json("POST", "/v1/completions", {"model": "m", "prompt": ids, "max_tokens": 4, "temperature": 0,
                                                    "return_token_ids": True})
    eq(r["choices"][0]["token_ids"] if st == 200 else st, gold["prompts"][0]["reference_greedy"][:4],
       "a prompt of token ids")


def test_stop_and_limits(srv, gold, dec):
    p = gold["prompts"][0]
    want = p["reference_greedy"]
    full = dec.decode(want)
    # a stop string from the middle of the greedy text: the answer ends right before it
    piece = dec.decode(want[5:7])
    cut = full.index(piece)
    base = {"model": "m", "prompt": p["text"], "max_tokens": 16, "temperature": 0}
    for stop in (piece, [piece], ["never-appears", piece]):
        st, _, r = srv.json("POST", "/v1/completions", dict(base, stop=stop))
        eq(r["choices"][0]["text"], full[:cut], "text cut at the stop string %r" % (stop,))
        eq(r["choices"][0]["finish_reason"], "stop", "finish_reason at a stop string")
        check(r["usage"]["completion_tokens"] <= 7, "generation stopped at the stop string")
        st, ev = srv.stream("/v1/completions", dict(base, stop=stop, stream=True))
        eq(text_of(ev, False), full[:cut], "streamed text cut at the stop string")
        eq(finish_of(ev)[0], "stop", "streamed finish_reason at a stop string")
    st, _, r = srv.json("POST", "/v1/completions", dict(base, stop="never-appears"))
    eq(r["choices"][0]["text"], full, "a stop string that never appears")
    # max_tokens
    for n in (1, 5):
        st, _, r = srv.json("POST", "/v1/completions", dict(base, max_tokens=n, return_token_ids=True))
        eq(r["usage"]["completion_tokens"], n, "max_tokens %d: completion_tokens" % n)
        eq(r["choices"][0]["token_ids"], want[:n], "max_tokens %d: tokens" % n)
        eq(r["choices"][0]["finish_reason"], "length", "max_tokens %d: finish_reason" % n)
    # seeded sampling is reproducible, and different seeds differ
    sb = dict(base, temperature=1.0, top_p=0.9, max_tokens=12, return_token_ids=True)
    a = srv.json("POST", "/v1/completions", dict(sb, seed=7))[2]["choices"][0]["token_ids"]
    b = srv.json("POST", "/v1/completions", dict(sb, seed=7))[2]["choices"][0]["token_ids"]
    c = srv.json("POST", "/v1/completions", dict(sb, seed=8))[2]["choices"][0]["token_ids"]
    eq(a, b, "same seed, same tokens")
    check(a != c, "another seed, other tokens")
    # the context: a request for more tokens than fit
    st, _, r = srv.json("POST", "/v1/completions", dict(base, max_tokens=4095))
    eq(st, 400, "prompt + max_tokens over the context")
    eq(r["error"]["code"], "context_length_exceeded", "context error code")


def test_errors(srv):
    chat = "/v1/chat/completions"
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    cases = [
        ("malformed JSON", chat, None, b'{"model": "m", "messages": [', 400, "invalid_json"),
        ("not an object", chat, [1, 2], None, 400, "invalid_type"),
        ("missing messages", chat, {"model": "m"}, None, 400, "missing_required_parameter"),
        ("missing model", chat, {"messages": good["messages"]}, None, 400, "missing_required_parameter"),
        ("missing prompt", "/v1/completions", {"model": "m"}, None, 400, "missing_required_parameter"),
        ("messages not an array", chat, dict(good, messages="hi"), None, 400, "invalid_type"),
        ("empty messages", chat, dict(good, messages=[]), None, 400, "invalid_value"),
        ("message without role", chat, dict(good, messages=[{"content": "x"}]), None, 400, "missing_required_parameter"),
        ("unknown role", chat, dict(good, messages=[{"role": "bot", "content": "x"}]), None, 400, "invalid_value"),
        ("content a number", chat, dict(good, messages=[{"role": "user", "content": 3}]), None, 400, "invalid_type"),
        ("image content", chat, dict(good, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
         None, 400, "unsupported_content"),
        ("temperature a string", chat, dict(good, temperature="hot"), None, 400, "invalid_type"),
        ("temperature out of range", chat, dict(good, temperature=3), None, 400, "invalid_value"),
        ("top_p out of range", chat, dict(good, top_p=1.5), None, 400, "invalid_value"),
        ("max_tokens a float", chat, dict(good, max_tokens=2.5), None, 400, "invalid_type"),
        ("max_tokens zero", chat, dict(good, max_tokens=0), None, 400, "invalid_value"),
        ("max_tokens over the server's limit", chat, dict(good, max_tokens=10 ** 6), None, 400, "invalid_value"),
        ("stream not a bool", chat, dict(good, stream="yes"), None, 400, "invalid_type"),
        ("stop a number", chat, dict(good, stop=5), None, 400, "invalid_type"),
        ("too many stops", chat, dict(good, stop=["a", "b", "c", "d", "e"]), None, 400, "invalid_value"),
        ("seed a string", chat, dict(good, seed="x"), None, 400, "invalid_type"),
        ("n=2", chat, dict(good, n=2), None, 400, "invalid_value"),
        ("logprobs", chat, dict(good, logprobs=True), None, 400, "unsupported_parameter"),
        ("prompt a number", "/v1/completions", {"model": "m", "prompt": 5}, None, 400, "invalid_type"),
        ("token id out of range", "/v1/completions", {"model": "m", "prompt": [1, 10 ** 7]}, None, 400, "invalid_value"),
        ("two prompts", "/v1/completions", {"model": "m", "prompt": ["a", "b"]}, None, 400, "invalid_value"),
    ]
    for what, path, body, raw, want, code in cases:
        st, _, r = srv.json("POST", path, body, raw=raw)
        eq(st, want, what + ": status")
        if is_error_shape(r, st, what):
            eq(r["error"]["code"], code, what + ": code")
            eq(r["error"]["type"], "invalid_request_error", what + ": type")
    st, _, r = srv.json("GET", "/v1/nothing")
    eq(st, 404, "unknown route")
    is_error_shape(r, st, "unknown route")
    st, h, r = srv.json("GET", chat)
    eq(st, 405, "GET on a POST route")
    is_error_shape(r, st, "wrong method")
    eq(h.get("Allow"), "POST", "405 names the allowed method")
    st, _, r = srv.json("DELETE", "/v1/models")
    eq(st, 405, "DELETE /v1/models")
    st, _, r = srv.json("GET", "/v1/models/not-this-one")
    eq(st, 404, "an unknown model")
    # bodies over --max-body (4 KiB here): declared, and chunked without a length
    big = json.dumps({"model": "m", "prompt": "x" * 8192}).encode()
    st, _, r = srv.json("POST", "/v1/completions", raw=big)
    eq(st, 413, "oversized body")
    is_error_shape(r, st, "oversized body")
    c = srv.conn()
    c.putrequest("POST", "/v1/completions")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for i in range(0, len(big), 1000):
        part = big[i:i + 1000]
        c.send(b"%x\r\n%s\r\n" % (len(part), part))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    eq(r.status, 413, "oversized chunked body")
    is_error_shape(json.loads(r.read()), 413, "oversized chunked body")
    c.close()
    # the server still answers
    st, _, r = srv.json("POST", chat, good)
    eq(st, 200, "a good request after the errors")


def test_api_key(gold):
    srv = Server(LLAMA, "--api-key", "sesame", "--ctx", "256")
    try:
        body = {"model": "m", "prompt": "Hi", "max_tokens": 2}
        st, h, r = srv.json("POST", "/v1/completions", body)
        eq(st, 401, "no API key")
        is_error_shape(r, st, "no API key")
        eq(r["error"]["code"], "invalid_api_key", "no API key: code")
        st, _, r = srv.json("POST", "/v1/completions", body, headers={"Authorization": "Bearer wrong"})
        eq(st, 401, "wrong API key")
        eq(r["error"]["code"], "invalid_api_key", "wrong API key: code")
        st, _, r = srv.json("GET", "/v1/models", headers={"Authorization": "Bearer sesam"})
        eq(st, 401, "a prefix of the key")
        st, _, r = srv.json("GET", "/metrics")
        eq(st, 401, "/metrics needs the key")
        st, _, r = srv.json("POST", "/v1/completions", body, headers={"Authorization": "Bearer sesame"})
        eq(st, 200, "right API key")
        eq(srv.json("GET", "/health")[0], 200, "/health needs no key")
        eq(srv.request("GET", "/")[0], 200, "the page needs no key")
    finally:
        srv.stop()


def test_info(srv):
    st, _, r = srv.json("GET", "/v1/models")
    eq(st, 200, "/v1/models")
    eq(r["object"], "list", "models list")
    eq(r["data"][0]["id"], "llama-tiny-f32", "model id from the file name")
    eq(srv.json("GET", "/v1/models/llama-tiny-f32")[0], 200, "/v1/models/{id}")
    st, _, r = srv.json("GET", "/health")
    eq((st, r["status"]), (200, "ok"), "/health")
    st, h, body = srv.request("GET", "/metrics")
    eq(st, 200, "/metrics")
    check(h.get("Content-Type", "").startswith("text/plain; version=0.0.4"), "Prometheus content type")
    text = body.decode()
    for name in ("frugal_http_requests_total{route=\"/v1/completions\",code=\"200\"}", "frugal_completion_tokens_total",
                 "frugal_decode_tokens_per_second", "frugal_memory_bytes{category=\"kv\"}",
                 "frugal_memory_bytes{category=\"weights\"}", "frugal_budget_limit_bytes", "frugal_queue_length",
                 "frugal_generations_total{reason=\"length\"}", "frugal_rss_bytes"):
        check(name in text, "/metrics has " + name)
    check(srv.metric("frugal_completion_tokens_total") > 0, "tokens counted")
    check(srv.metric("frugal_memory_bytes{category=\"kv\"}") > 0, "KV memory shown after generating")
    st, _, m = srv.json("GET", "/v1/memory")
    eq(st, 200, "/v1/memory")
    for k in ("weights", "kv", "scratch", "tokenizer", "runtime", "other"):
        check(isinstance(m["categories"].get(k), (int, float)), "/v1/memory category " + k)
    check(m["categories"]["tokenizer"] > 0, "the tokenizer's memory is shown")
    check(m["budget"]["limit"] > 0, "/v1/memory has the budget")
    eq(m["timeline"]["columns"][:2], ["t_s", "rss"], "timeline columns")
    check(len(m["timeline"]["samples"]) >= 2, "timeline samples")
    check(m["timeline"]["samples"][-1][0] == 0 and m["timeline"]["samples"][-1][1] > 0, "timeline ends now")
    st, h, page = srv.request("GET", "/")
    eq(st, 200, "the page")
    check(h.get("Content-Type", "").startswith("text/html") and b"app.js" in page, "the page is HTML that loads app.js")
    check("default-src 'none'" in h.get("Content-Security-Policy", ""), "the page has a CSP")
    for asset, ctype in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        st, h, _ = srv.request("GET", asset)
        check(st == 200 and h.get("Content-Type", "").startswith(ctype), "asset " + asset)


def long_body(stream=False):
    return {"model": "m", "prompt": "Once", "max_tokens": 4000, "temperature": 0, "stream": stream}


def test_disconnect_and_queue():
    srv = Server(LLAMA, "--max-queue", "1")
    try:
        # a running non-streamed request whose client goes away is cancelled
        s = raw_post(srv.port, "/v1/completions", long_body())
        srv.wait_for(lambda: srv.health()["busy"], "the generation to start")
        s.close()
        srv.wait_for(lambda: not srv.health()["busy"], "the cancelled generation to stop", timeout=5)
        eq(srv.metric("frugal_generations_total{reason=\"cancelled\"}"), 1.0, "a cancelled generation")
        # the same while streaming
        s = raw_post(srv.port, "/v1/completions", long_body(True))
        s.recv(1000)
        s.close()
        srv.wait_for(lambda: not srv.health()["busy"] and srv.metric("frugal_generations_total{reason=\"cancelled\"}") == 2,
                     "the cancelled stream to stop", timeout=5)
        # queue of one: A runs, B waits, C is refused with 429; B leaves: its place is free
        a = raw_post(srv.port, "/v1/completions", long_body(True))
        a.recv(1000)
        b = raw_post(srv.port, "/v1/completions", long_body())
        srv.wait_for(lambda: srv.health()["queued"] == 1, "B to queue")
        st, h, r = srv.json("POST", "/v1/completions", long_body())
        eq(st, 429, "queue full")
        is_error_shape(r, st, "queue full")
        eq(r["error"]["code"], "queue_full", "queue full: code")
        eq(h.get("Retry-After"), "1", "429 says when to retry")
        b.close()
        srv.wait_for(lambda: srv.health()["queued"] == 0, "the departed client's place to free", timeout=5)
        check(srv.health()["busy"], "A still runs")
        results = {}
        t = threading.Thread(target=lambda: results.update(
            r=srv.json("POST", "/v1/completions", {"model": "m", "prompt": "Hi", "max_tokens": 3})))
        t.start()
        srv.wait_for(lambda: srv.health()["queued"] == 1, "C to take the free place")
        a.close()  # A leaves: C runs
        t.join(30)
        eq(results.get("r", (None,))[0], 200, "the queued request is answered once A leaves")
        eq(srv.metric("frugal_generations_total{reason=\"cancelled\"}"), 3.0, "A was cancelled")
        eq(srv.metric("frugal_queue_length"), 0.0, "the queue is empty")
    finally:
        srv.stop()


def test_concurrency():
    srv = Server(LLAMA, "--max-queue", "8", "--ctx", "512")
    try:
        # warm: the weights are paged in by the first request (file pages, counted in RSS)
        srv.json("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                   "max_tokens": 4})
        rss0 = srv.rss_kib()
        statuses = []
        errors = []
        lock = threading.Lock()

        def client(i):
            try:
                msgs = [{"role": "user", "content": "client %d says hello" % i}]
                body = {"model": "m", "messages": msgs, "max_tokens": 24, "temperature": 0.7, "seed": i}
                if i % 2:
                    st, ev = srv.stream("/v1/chat/completions", dict(body, stream=True))
                    ok = st != 200 or (ev[-1] == "[DONE]" and finish_of(ev)[0] in ("length", "stop"))
                else:
                    st, _, r = srv.json("POST", "/v1/chat/completions", body)
                    ok = st != 200 or r["choices"][0]["finish_reason"] in ("length", "stop")
                with lock:
                    statuses.append(st)
                    if not ok:
                        errors.append("client %d: bad answer" % i)
            except Exception as e:  # a crash or reset would land here
                with lock:
                    errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        eq(errors, [], "50 concurrent clients: no client error")
        eq(len(statuses), 50, "50 concurrent clients: every one answered")
        check(all(s in (200, 429, 503) for s in statuses), "answers are 200, 429 or 503: %r" % sorted(set(statuses)))
        n200, n429 = statuses.count(200), statuses.count(429)
        check(n200 >= 9, "at least the running one and the queue's 8 were served (%d)" % n200)
        check(n429 > 0, "some were refused with 429 (%d)" % n429)
        hwm = srv.rss_kib("VmHWM")
        print("concurrency: %d served, %d refused with 429; RSS %.1f MiB before, peak %.1f MiB" %
              (n200, n429, rss0 / 1024, hwm / 1024), flush=True)
        if SANITIZED:  # shadow memory and quarantine: no meaningful bound
            print("concurrency: sanitizer build, RSS bound not checked")
        else:
            check(hwm - rss0 < 64 * 1024, "RSS grew by less than 64 MiB under 50 clients (%d KiB)" % (hwm - rss0))
        eq(srv.json("GET", "/health")[0], 200, "the server is healthy after the crowd")
        check(srv.proc.poll() is None, "the server did not crash")
    finally:
        eq(srv.stop(), 0, "exit status after SIGTERM")


def test_budget():
    """A budget with a few MiB of headroom: a prompt whose KV does not fit is stopped with
    finish_reason memory_budget; a small one still runs; too small a budget refuses to start."""
    model = os.path.join(MODELS, "qwen2-q256-f32.gguf")
    probe = Server(model, "--ctx", "8192")
    try:
        probe.json("POST", "/v1/completions", {"model": "m", "prompt": [1, 2, 3], "max_tokens": 2})
        m = probe.json("GET", "/v1/memory")[2]
        used, kvpt = m["budget"]["used"], m["kv_cache"]["bytes_per_token"]
    finally:
        probe.stop()
    headroom = 2 << 20
    limit = used + (64 << 20) + headroom  # the default margin is 64 MiB at this size
    srv = Server(model, "--ctx", "8192", "--mem-limit", str(limit))
    try:
        n_big = 2 * headroom // kvpt  # twice what the headroom holds
        st, _, r = srv.json("POST", "/v1/completions", {"model": "m", "prompt": [1] * n_big, "max_tokens": 4})
        if not eq(st, 200, "over-budget request answered"):
            print(r)
        eq(r["choices"][0]["finish_reason"], "memory_budget", "finish_reason when the KV cache may not grow")
        st, _, r = srv.json("POST", "/v1/completions", {"model": "m", "prompt": [1, 2, 3], "max_tokens": 4})
        eq((st, r.get("choices", [{}])[0].get("finish_reason")), (200, "length"), "a small request still runs: %r" % r)
        check(srv.metric("frugal_budget_refusals_total") >= 1, "the refusal is counted")
    finally:
        srv.stop()
    small = Server(LLAMA, "--mem-limit", "1M", expect_start=False)
    rc = small.proc.wait(30)
    err = small.proc.stderr.read()
    eq(rc, 1, "a budget too small to load: exit status")
    check("budget" in err and err.count("\n") == 1, "a budget too small to load: one line: %r" % err)


def test_shutdown():
    srv = Server(LLAMA, "--grace", "1000", "--max-queue", "4")
    c = srv.conn()
    c.request("POST", "/v1/chat/completions", body=json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "go on"}], "max_tokens": 4000, "temperature": 0,
         "stream": True}).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    eq(r.status, 200, "stream before shutdown")
    first = r.readline()
    check(first.startswith(b"data: "), "stream started")
    results = {}
    t = threading.Thread(target=lambda: results.update(q=srv.json("POST", "/v1/completions", long_body())))
    t.start()
    srv.wait_for(lambda: srv.health()["queued"] == 1, "a request to queue")
    srv.proc.send_signal(signal.SIGTERM)
    events = []
    for line in r:
        line = line.decode().rstrip("\n")
        if line.startswith("data: "):
            d = line[6:]
            events.append(d if d == "[DONE]" else json.loads(d))
    c.close()
    t.join(30)
    eq(events[-1] if events else None, "[DONE]", "the in-flight stream ends with [DONE]")
    eq(finish_of(events)[0], "shutdown", "the in-flight stream's finish_reason")
    q = results.get("q")
    eq(q[0] if q else None, 503, "the queued request is refused with 503")
    if q:
        is_error_shape(q[2], 503, "queued at shutdown")
        eq(q[2]["error"]["code"], "shutting_down", "queued at shutdown: code")
    try:
        rc = srv.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
        srv.proc.kill()
    eq(rc, 0, "exit status 0 after SIGTERM")


def test_hf_dir(gold):
    """An HF directory (tokenizer.json, the template from tokenizer_config.json)."""
    srv = Server(os.path.join(MODELS, "llama-tiny-hf"), "--ctx", "256")
    try:
        chat = gold["prompts"][1]
        msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}]
        st, _, r = srv.json("POST", "/v1/chat/completions", {"model": "m", "messages": msgs, "max_tokens": 8,
                                                              "temperature": 0, "return_token_ids": True})
        eq(r["prompt_token_ids"] if st == 200 else st, chat["ids"], "HF directory: chat prompt ids")
        eq(r["choices"][0]["token_ids"] if st == 200 else st, chat["reference_greedy"][:8], "HF directory: greedy tokens")
    finally:
        srv.stop()


def main():
    with open(os.path.join(DATA, "golden", "gold-llama-tiny-f32.json")) as f:
        gold = json.load(f)
    dec = Decoder(os.path.join(MODELS, "qwen-tokenizer", "tokenizer.json"))
    only = sys.argv[1:]

    def run(name, fn, *a):
        if only and name not in only:
            return
        t = time.time()
        before = failed
        try:
            fn(*a)
        except Exception as e:
            check(False, "%s raised %r" % (name, e))
        print("%-22s %s (%.1f s)" % (name, "ok" if failed == before else "FAILED", time.time() - t), flush=True)

    srv = Server(LLAMA, "--max-body", "4096")
    try:
        run("greedy", test_greedy, srv, gold, dec)
        run("stop-and-limits", test_stop_and_limits, srv, gold, dec)
        run("errors", test_errors, srv)
        run("info", test_info, srv)
    finally:
        rc = srv.stop()
    check(rc == 0, "the first server exits 0 on SIGTERM (%r)" % rc)
    run("api-key", test_api_key, gold)
    run("hf-dir", test_hf_dir, gold)
    run("disconnect-and-queue", test_disconnect_and_queue)
    run("concurrency", test_concurrency)
    run("budget", test_budget)
    run("shutdown", test_shutdown)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
