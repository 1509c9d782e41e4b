// The openai-proxy engine in front of real inference: another Turbine serving a random GGUF
// model with llama.cpp, started by the test. The proxy's frontend tokenizes with the same
// model's tokenizer (the GGUF vocabulary), so the upstream gets token ids it understands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomGguf } from "../../support/gguf.ts";
import { postRaw, startServer } from "../../support/http.ts";
import { readSse, startProxyFleet } from "./fixtures.ts";

test("openai-proxy - in front of a llama.cpp server, greedy text is relayed exactly, streamed and not", async () => {
  const upstream = await startServer({ engine: "llamacpp", modelPath: await randomGguf(), numWorkers: 1, llamacpp: { numSequences: 2, contextSize: 512 } });
  const model = upstream.frontend.models.models()[0]!;
  const name = model.card.name;
  const fleet = await startProxyFleet([{ upstream: upstream.url, upstreamModel: name, promptFormat: "tokens" }], { policy: "kv" }, { card: model.card, tokenizer: model.tokenizer });
  try {
    const body = { model: name, prompt: "Hello world, the model is here: the cache and the router", max_tokens: 16, temperature: 0 };
    const direct = await postRaw(`${upstream.url}/v1/completions`, JSON.stringify(body));
    assert.equal(direct.status, 200, JSON.stringify(direct.json));
    const want = direct.json as { choices: { text: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(want.usage.completion_tokens, 16);

    const plain = await postRaw(`${fleet.url}/v1/completions`, JSON.stringify(body));
    assert.equal(plain.status, 200, JSON.stringify(plain.json));
    const got = plain.json as typeof want;
    assert.equal(got.choices[0]!.text, want.choices[0]!.text);
    assert.equal(got.usage.prompt_tokens, want.usage.prompt_tokens, "the proxy's frontend tokenized the prompt as the upstream does");
    assert.equal(got.usage.completion_tokens, 16);

    const res = await fetch(`${fleet.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true }),
    });
    assert.equal(res.status, 200);
    const { events, raw } = await readSse(res);
    assert.ok(raw.endsWith("data: [DONE]\n\n"));
    const text = events.map((e) => (e as { choices: { text?: string }[] }).choices[0]?.text ?? "").join("");
    assert.equal(text, want.choices[0]!.text);
  } finally {
    await fleet.close();
    await upstream.close();
  }
});
