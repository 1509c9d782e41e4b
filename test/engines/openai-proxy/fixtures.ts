// Shared setup of the openai-proxy tests: a Turbine frontend (kv router) whose workers are
// openai-proxy engines in front of real OpenAI-compatible servers (other Turbines with
// mocker workers, started in this process).
import { Runtime } from "../../../src/runtime/index.ts";
import { Frontend } from "../../../src/frontend/index.ts";
import { OpenAIProxyEngine, Worker } from "../../../src/engines/index.ts";
import type { OpenAIProxyEngineOptions } from "../../../src/engines/index.ts";
import { builtinByteModel } from "../../../src/model/index.ts";
import type { RouterOptions } from "../../../src/router/index.ts";

export interface ProxyFleet {
  url: string;
  frontend: Frontend;
  workers: Worker[];
  engines: OpenAIProxyEngine[];
  close(): Promise<void>;
}

export type ProxyWorkerOptions = Partial<Omit<OpenAIProxyEngineOptions, "card" | "tokenizer">> & { upstream: string };

/** A frontend with one openai-proxy worker per entry of `upstreams`. */
export async function startProxyFleet(
  upstreams: ProxyWorkerOptions[],
  router: Omit<RouterOptions, "blockSize" | "indexer"> = { policy: "kv" },
  model: Pick<OpenAIProxyEngineOptions, "card" | "tokenizer"> = builtinByteModel(),
): Promise<ProxyFleet> {
  const runtime = Runtime.embedded();
  const namespace = "proxy-test";
  const frontend = await Frontend.start({ runtime, namespace, host: "127.0.0.1", port: 0, router, processMetrics: false });
  const workers: Worker[] = [];
  const engines: OpenAIProxyEngine[] = [];
  for (const u of upstreams) {
    const engine = new OpenAIProxyEngine({ upstreamModel: "turbine-byte", ...u, card: model.card, tokenizer: model.tokenizer });
    engines.push(engine);
    workers.push(await Worker.start({ runtime, namespace, engine, metricsIntervalMs: 50 }));
  }
  await frontend.models.settled();
  return {
    url: frontend.url,
    frontend,
    workers,
    engines,
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await frontend.close();
      await runtime.close();
    },
  };
}

/** Reads an SSE response to the end; returns its JSON events and the raw text. */
export async function readSse(res: Response): Promise<{ events: Record<string, unknown>[]; raw: string }> {
  const raw = await res.text();
  const events = raw
    .split("\n\n")
    .filter((e) => e.startsWith("data: {"))
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
  return { events, raw };
}

export function textOf(events: Record<string, unknown>[]): string {
  return events.map((e) => ((e["choices"] as { text?: string; delta?: { content?: string } }[])[0] ?? {})).map((c) => c.text ?? c.delta?.content ?? "").join("");
}
