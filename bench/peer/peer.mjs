// llama.cpp's prefill and decode speed on one GGUF file, measured the way `frugal bench`
// measures frugal's, for bench/peer.sh to put side by side:
//
//   node bench/peer/peer.mjs MODEL.gguf [--threads 2] [--ctx 4096] [-p 392] [-n 128]
//
// Prints one JSON object: prefill_tok_s (a prompt of -p token ids evaluated in one call,
// batch 512), decode_tok_s (-n tokens generated greedily, one llama_decode each, with the
// logits of every step and llama.cpp's greedy sampler; the steps go through node-llama-
// cpp's async generator, a few tens of microseconds of JavaScript per token), peak_rss
// (the process's VmHWM after the run) and base_rss (its VmHWM before the model was loaded:
// Node itself), the llama.cpp build and the CPU features its kernels were chosen for.
// The prompt is the same text for every run; which tokens it holds does not change the
// speed.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const usage = "usage: node bench/peer/peer.mjs MODEL.gguf [--threads N] [--ctx N] [-p N] [-n N]";
const opts = {threads: 2, ctx: 4096, p: 392, n: 128};
let model = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const key = {"--threads": "threads", "--ctx": "ctx", "-p": "p", "-n": "n"}[a];
    if (key) {
        const v = Number(args[++i]);
        if (!Number.isInteger(v) || v < 1) fail(`${a} wants a positive integer, not '${args[i]}'`);
        opts[key] = v;
    } else if (a.startsWith("-") || model) {
        fail(`unexpected argument '${a}'\n${usage}`);
    } else {
        model = a;
    }
}
if (!model) fail(usage);
if (opts.p + opts.n + 1 > opts.ctx) fail(`-p ${opts.p} plus -n ${opts.n} (and the token that starts the generation) do not fit --ctx ${opts.ctx}`);

function fail(msg) {
    console.error(`peer.mjs: ${msg}`);
    process.exit(2);
}

function vmhwm() {
    const m = readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : null;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const baseRss = vmhwm();
try {
    const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0});
    const m = await llama.loadModel({modelPath: model, gpuLayers: 0});
    const ctx = await m.createContext({contextSize: opts.ctx, threads: {ideal: opts.threads, min: opts.threads},
                                       batchSize: 512, sequences: 1});
    const seq = ctx.getSequence();
    // a prompt of -p tokens of ordinary text, in the model's own vocabulary
    const text = "The quick brown fox jumps over the lazy dog while the memory budget holds. ".repeat(16);
    const unit = m.tokenize(text);
    const prompt = Array.from({length: opts.p}, (_, i) => unit[i % unit.length]);

    let t0 = now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt);
    const prefill = now() - t0;

    // the first generated token comes from the prompt's last logits; the timed steps are
    // the n decodes after it, as in frugal bench
    let steps = -1;
    t0 = 0;
    for await (const _tok of seq.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
        if (steps < 0) t0 = now();
        if (++steps >= opts.n) break;
    }
    const decode = now() - t0;
    const version = JSON.parse(readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url))).version;
    console.log(JSON.stringify({
        model, n_threads: opts.threads, n_ctx: opts.ctx, n_prompt: opts.p, n_gen: steps,
        prefill_tok_s: opts.p / prefill, decode_tok_s: steps / decode,
        peak_rss: vmhwm(), base_rss: baseRss,
        peer: `llama.cpp via node-llama-cpp ${version}`,
        cpu: (llama.systemInfo.match(/CPU : (.*)/) || [null, llama.systemInfo])[1].trim(),
    }));
    await ctx.dispose();
    await m.dispose();
} catch (e) {
    fail(`${model}: ${e.message.split("\n")[0]}`);
}
