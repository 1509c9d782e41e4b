// Serving a Hugging Face model folder: its tokenizer and chat template drive preprocessing.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { loadHuggingFaceModel } from "../../src/model/index.ts";
import { postRaw, startServer } from "../support/http.ts";

const FOLDER = new URL("../model/fixtures/tiny-bpe", import.meta.url).pathname;

test("frontend - serves a Hugging Face model folder with its tokenizer and chat template", async () => {
  const server = await startServer({ numWorkers: 1, modelPath: FOLDER, modelName: "tiny" });
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    assert.deepEqual(
      (await client.models.list()).data.map((m) => m.id),
      ["tiny"],
    );
    const messages = [{ role: "user" as const, content: "hello world" }];
    const r = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 5 });
    // The prompt is the template rendered and tokenized with the folder's own tokenizer.
    const model = await loadHuggingFaceModel(FOLDER);
    const rendered = model.chatTemplate.render(messages, { addGenerationPrompt: true });
    const ids = model.tokenizer.encode(rendered, { addSpecialTokens: false, parseSpecialTokens: true });
    assert.equal(r.usage!.prompt_tokens, ids.length);
    assert.equal(r.usage!.completion_tokens, 5);
    // The template's raise_exception on a role it does not know is a clear 400.
    const bad = await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify({ model: "tiny", messages: [{ role: "system", content: "x" }] }));
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { param: string } }).error.param, "messages");
  } finally {
    await server.close();
  }
});
