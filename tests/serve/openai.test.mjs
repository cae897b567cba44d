// The official `openai` client, pointed at frugal serve, completes a streamed chat.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer } from "./helpers.mjs";

test("the openai client streams a chat from frugal serve", async () => {
  const srv = await startServer("llama-tiny-f32.gguf", ["--api-key", "sk-test", "--ctx", "512"]);
  try {
    const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "sk-test", maxRetries: 0 });
    const models = await client.models.list();
    assert.equal(models.data[0].id, "llama-tiny-f32");

    const messages = [{ role: "system", content: "You are a helpful assistant." },
                      { role: "user", content: "What is 2+2?" }];
    const stream = await client.chat.completions.create({
      model: "llama-tiny-f32", messages, stream: true, temperature: 0, max_tokens: 16,
      stream_options: { include_usage: true },
    });
    let text = "", finish = null, usage = null, chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      text += c.delta.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.ok(chunks > 3, "several chunks streamed");
    assert.equal(finish, "length");
    assert.equal(usage.completion_tokens, 16);
    assert.equal(usage.prompt_tokens, 26); // the golden ChatML prompt's length

    // greedy: the same text without streaming
    const whole = await client.chat.completions.create({ model: "llama-tiny-f32", messages, temperature: 0, max_tokens: 16 });
    assert.equal(whole.choices[0].message.content, text);
    assert.ok(text.length > 0);

    // the client's own error types map from our error bodies
    const bad = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: "m", messages }), (e) => e instanceof OpenAI.AuthenticationError &&
      e.status === 401 && e.code === "invalid_api_key");
    await assert.rejects(client.chat.completions.create({ model: "m", messages, n: 2 }), (e) =>
      e instanceof OpenAI.BadRequestError && e.param === "n");
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
