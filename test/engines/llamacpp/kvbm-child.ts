// Child process of kvbm.test.ts: a worker whose G2 holds one state (maxBytes 1), so that each
// new state evicts the last one into the KVBM (Redis, offloadAll). Generates each prompt,
// waits for the offloads, prints {pid, offloads} and exits.
import { LlamaCppEngine } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";

const [modelPath, redisUrl, promptsJson] = process.argv.slice(2);
const engine = await LlamaCppEngine.create({
  modelPath: modelPath!,
  numSequences: 2,
  contextSize: 512,
  prefixCache: { maxBytes: 1 },
  kvbm: { redisUrl: redisUrl!, offloadAll: true },
});
for (let i = 0; i < 100 && !engine.kvbm!.redis!.isReady; i++) await new Promise((r) => setTimeout(r, 20));
for (const prompt of JSON.parse(promptsJson!) as number[][]) {
  const request = { requestId: asRequestId(`c-${Math.random()}`), model: "m", tokenIds: prompt, sampling: { temperature: 0 }, stop: { maxTokens: 8, stopTokenIds: [] } };
  for await (const _ of engine.generate(request, { signal: new AbortController().signal })) void _;
}
await engine.flushOffloads();
process.stdout.write(JSON.stringify({ pid: process.pid, offloads: engine.kvbmStats()!.offloads }) + "\n");
await engine.close();
