// The chat page in headless Chromium (Debian's, driven by playwright-core): a message
// sent, the answer seen streaming in, the memory panel seen updating; a screenshot is
// written to $FG_SCREENSHOT (default docs/serve.png, the one kept in the repository).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./helpers.mjs";

const CHROMIUM = process.env.FG_CHROMIUM || "/usr/bin/chromium";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("the chat page streams an answer and shows memory live", { skip: !fs.existsSync(CHROMIUM) && CHROMIUM + " is not installed" }, async () => {
  const srv = await startServer("llama-tiny-f32.gguf", ["--ctx", "1024"]);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "frugal-chromium-"));
  // a fresh profile (--user-data-dir) in a temporary folder
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 760 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
    await page.goto(srv.url + "/");
    await page.waitForFunction(() => document.querySelector("#model").textContent.includes("llama-tiny-f32"));
    // the memory panel fills in from /v1/memory
    await page.waitForFunction(() => document.querySelector("#mem-rss").textContent.includes("B"));
    const chartBefore = await page.getAttribute("#chart-area", "points");
    const kvBefore = await page.textContent("#mem-table tr[data-category=kv] td:last-child");

    await page.fill("#max_tokens", "160");
    await page.fill("#temperature", "0");
    await page.fill("#input", "Hello! Tell me something about memory.");
    // streamed: text shows in the answer while it is still being generated. A mutation
    // observer sees every change of the answer's text as it happens (polling from here
    // could miss the whole answer when a tiny model generates 160 tokens in a few ms).
    await page.evaluate(() => {
      window.sawStreaming = false;
      new MutationObserver(() => {
        const m = document.querySelector(".msg.assistant.streaming");
        if (m && m.textContent.length > 0) window.sawStreaming = true;
      }).observe(document.querySelector("#log"), { subtree: true, childList: true, characterData: true });
    });
    await page.press("#input", "Enter");
    await page.waitForSelector(".msg.assistant:not(.streaming) .note", { timeout: 60000 });
    assert.ok(await page.evaluate(() => window.sawStreaming), "text appeared while the answer was streaming");
    const note = await page.textContent(".msg.assistant .note");
    assert.match(note, /160 tokens/);
    assert.match(note, /length/);
    const answer = await page.evaluate(() => document.querySelector(".msg.assistant").firstChild.textContent);
    assert.ok(answer.length > 20, "an answer was written");

    // the panel updates: KV in use grows after generating, the chart moves
    await page.waitForFunction((before) => {
      const td = document.querySelector("#mem-table tr[data-category=kv] td:last-child");
      return td && td.textContent !== before && !td.textContent.startsWith("0 ");
    }, kvBefore, { timeout: 10000 });
    await page.waitForFunction((before) => document.querySelector("#chart-area").getAttribute("points") !== before,
                               chartBefore, { timeout: 10000 });
    assert.match(await page.textContent("#mem-note"), /KV: \d+ of 1024 positions/);
    assert.match(await page.textContent("#budget-text"), / of /);

    // a second turn keeps the history (the server reuses the cached prefix)
    await page.fill("#input", "And a second question?");
    await page.press("#input", "Enter");
    await page.waitForFunction(() => document.querySelectorAll(".msg.assistant:not(.streaming) .note").length === 2,
                               null, { timeout: 60000 });
    assert.match(await page.textContent(".msg.assistant:nth-of-type(4) .note"), /cached\)/);
    const cached = await page.textContent(".msg.assistant:nth-of-type(4) .note");
    assert.ok(!/\(0 cached\)/.test(cached), "the second turn reused the cache: " + cached);

    // the stop button cancels a generation
    await page.fill("#max_tokens", "500");
    await page.fill("#input", "A long one, please.");
    await page.press("#input", "Enter");
    await page.waitForFunction(() => {
      const m = document.querySelector(".msg.assistant.streaming");
      return m && m.textContent.length > 0;
    }, null, { polling: 5 });
    await page.click("#stop");
    await page.waitForSelector(".msg.assistant:nth-of-type(6):not(.streaming) .note");
    assert.match(await page.textContent(".msg.assistant:nth-of-type(6) .note"), /stopped/);

    await page.waitForTimeout(1200); // one more memory poll so the chart shows the activity
    const shot = path.resolve(ROOT, process.env.FG_SCREENSHOT || "docs/serve.png");
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    assert.ok(fs.statSync(shot).size > 10000, "a screenshot was written to " + shot);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
    assert.equal(await srv.stop(), 0);
  }
});
