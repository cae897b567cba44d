// Renders the chat templates in tests/data/templates/*.jinja and frugal's built-in chat
// formats (src/token/chat_builtin.c) with @huggingface/jinja, for a fixed set of
// conversations and options, into tests/data/templates/goldens.json.
//
//   cd scripts/goldens/templates && npm install && node make_goldens.mjs
//
// The clock is fixed at 2024-07-26 12:00:00 UTC (Date is replaced before rendering), so
// Llama 3.2's strftime_now("%d %b %Y") gives "26 Jul 2024"; the tests give frugal the
// same instant (now_unix). Noon UTC keeps the date the same in any zone within +-11 h.
//
// Each case holds either "output" (the rendered text) or "error" (the message of the
// exception the template raised, e.g. Gemma 2 refusing a system message).
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const templatesDir = path.join(root, "tests/data/templates");
const outPath = path.join(templatesDir, "goldens.json");

// ---- fixed clock ----------------------------------------------------------------------
const NOW_MS = Date.UTC(2024, 6, 26, 12, 0, 0);
const RealDate = Date;
class FixedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(NOW_MS);
    else super(...args);
  }
  static now() {
    return NOW_MS;
  }
}
globalThis.Date = FixedDate;

// ---- conversations --------------------------------------------------------------------
const sys = (content) => ({ role: "system", content });
const user = (content) => ({ role: "user", content });
const asst = (content) => ({ role: "assistant", content });

const SYS = "You are a concise assistant. Answer in one sentence.";
const conversations = {
  // 1 to 4 user turns, without and with a system message
  u1: [user("Hello!")],
  s_u1: [sys(SYS), user("Hello!")],
  u2: [user("What is 2+2?"), asst("2+2 is 4."), user("And times 3?")],
  s_u2: [sys(SYS), user("What is 2+2?"), asst("2+2 is 4."), user("And times 3?")],
  u3: [
    user("Name a fruit."), asst("Apple."),
    user("Another one?"), asst("Banana."),
    user("One more, please."),
  ],
  s_u4: [
    sys(SYS),
    user("Name a fruit."), asst("Apple."),
    user("Another one?"), asst("Banana."),
    user("And a vegetable?"), asst("Carrot."),
    user("Thanks! Which of those is orange?"),
  ],
  // ending with the assistant (a finished exchange, as for training or scoring)
  u1_a1: [user("Say hi."), asst("Hi!")],
  s_u2_a2: [sys(SYS), user("Hi."), asst("Hello! How can I help?"), user("Tell me a joke."), asst("Why did the chicken cross the road? To get to the other side.")],
  // text the templates must pass through untouched (or trim where they trim)
  unicode: [
    sys("  Réponds en français.\nSois bref.  "),
    user("  Grüße 👋🏽 — 你好, мир! ∑x² ≤ 10\n\tcode:\n```py\nprint('hi')\n```\n  "),
  ],
  tricky: [
    user("He said \"{{ not a tag }}\" and {% neither %}; it's {# fine #} \\n stays."),
    asst("Noted: <|im_end|> and <end_of_turn> are just text here."),
    user("Line one.\n\nLine three, after a blank line.\n"),
  ],
  empty: [sys(""), user("")],
  // Qwen3: reasoning in the history; the last answer keeps its <think> block
  think_history: [
    user("What is 2+2?"),
    asst("<think>\nSimple arithmetic.\n</think>\n\n2+2 is 4."),
    user("And 3+3?"),
    asst("<think>\nAdd three to three.\n</think>\n\n3+3 is 6."),
  ],
  // SmolLM3: the system prompt can switch reasoning off with /no_think
  no_think_system: [sys("Be brief. /no_think"), user("What is the capital of France?")],
  // templates that require alternating roles or refuse a system role raise here
  two_users: [user("First."), user("Second.")],
  system_only: [sys(SYS)],
};

// ---- what to render --------------------------------------------------------------------
const ALL = Object.keys(conversations);
const models = [
  { file: "Qwen-Qwen2.5-7B-Instruct.jinja", bos_token: null, eos_token: "<|im_end|>" },
  { file: "Qwen-Qwen3-0.6B.jinja", bos_token: null, eos_token: "<|im_end|>", enable_thinking: [undefined, true, false] },
  { file: "HuggingFaceTB-SmolLM3-3B.jinja", bos_token: null, eos_token: "<|im_end|>", enable_thinking: [undefined, true, false] },
  {
    file: "meta-llama-Llama-3.2-3B-Instruct.jinja", bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>",
    // undefined: the template calls strftime_now("%d %b %Y") on the fixed clock
    date_string: [undefined, "26 Jul 2024", "01 Jan 2025"],
  },
  { file: "google-gemma-2-2b-it.jinja", bos_token: "<bos>", eos_token: "<eos>" },
  { file: "microsoft-Phi-3.5-mini-instruct.jinja", bos_token: "<s>", eos_token: "<|endoftext|>" },
];

const builtinTokens = {
  chatml: { bos_token: null, eos_token: "<|im_end|>" },
  llama3: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
  llama2: { bos_token: "<s>", eos_token: "</s>" },
  phi3: { bos_token: "<s>", eos_token: "<|endoftext|>" },
  gemma: { bos_token: "<bos>", eos_token: "<eos>" },
  zephyr: { bos_token: "<s>", eos_token: "</s>" },
  mistral: { bos_token: "<s>", eos_token: "</s>" },
};

// The built-in table of src/token/chat_builtin.c: { "name", "literal" "literal" ... },
function readBuiltins() {
  const src = fs.readFileSync(path.join(root, "src/token/chat_builtin.c"), "utf8");
  const block = src.split("/* BEGIN BUILTINS */")[1].split("/* END BUILTINS */")[0];
  const lit = String.raw`"(?:[^"\\]|\\.)*"`;
  const entry = new RegExp(String.raw`\{\s*(${lit})\s*,((?:\s*${lit})+)\s*\}`, "g");
  const out = [];
  for (const m of block.matchAll(entry)) {
    const name = JSON.parse(m[1]);
    const parts = [...m[2].matchAll(new RegExp(lit, "g"))].map((x) => JSON.parse(x[0]));
    out.push({ name, template: parts.join("") });
  }
  if (out.length === 0) throw new Error("no built-in templates found in chat_builtin.c");
  return out;
}

function render(template, vars) {
  try {
    return { output: template.render(vars) };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

function casesFor(source, tokens, extraAxes) {
  const template = new Template(source);
  const cases = [];
  for (const conv of ALL) {
    for (const gen of [true, false]) {
      const thinkings = extraAxes.enable_thinking ?? [undefined];
      const dates = extraAxes.date_string ?? [undefined];
      for (const think of thinkings) {
        for (const date of dates) {
          const vars = { messages: structuredClone(conversations[conv]), add_generation_prompt: gen };
          if (tokens.bos_token !== null) vars.bos_token = tokens.bos_token;
          if (tokens.eos_token !== null) vars.eos_token = tokens.eos_token;
          if (think !== undefined) vars.enable_thinking = think;
          if (date !== undefined) vars.date_string = date;
          const c = { conversation: conv, add_generation_prompt: gen };
          if (think !== undefined) c.enable_thinking = think;
          if (date !== undefined) c.date_string = date;
          Object.assign(c, render(template, vars));
          cases.push(c);
        }
      }
    }
  }
  return cases;
}

const pkg = JSON.parse(fs.readFileSync(path.join(here, "node_modules/@huggingface/jinja/package.json"), "utf8"));
const result = {
  generator: `@huggingface/jinja ${pkg.version} (scripts/goldens/templates/make_goldens.mjs)`,
  now_unix: NOW_MS / 1000,
  conversations,
  templates: [],
  builtins: [],
};

for (const m of models) {
  const source = fs.readFileSync(path.join(templatesDir, m.file), "utf8");
  result.templates.push({
    file: m.file,
    bos_token: m.bos_token,
    eos_token: m.eos_token,
    cases: casesFor(source, m, { enable_thinking: m.enable_thinking, date_string: m.date_string }),
  });
}
for (const b of readBuiltins()) {
  const tokens = builtinTokens[b.name];
  if (!tokens) throw new Error(`no bos/eos tokens listed for built-in format ${b.name}`);
  result.builtins.push({ name: b.name, template: b.template, ...tokens, cases: casesFor(b.template, tokens, {}) });
}

fs.writeFileSync(outPath, JSON.stringify(result, null, 1) + "\n");
let n = 0, errors = 0;
for (const t of [...result.templates, ...result.builtins]) {
  for (const c of t.cases) {
    n++;
    if (c.error !== undefined) errors++;
  }
}
console.log(`wrote ${path.relative(root, outPath)}: ${n} cases (${errors} raise an error)`);
