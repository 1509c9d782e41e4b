// Helpers for tests that drive a LlamaCppEngine directly: greedy generation and a
// deterministic prompt over the random model's vocabulary.
import type { LlamaCppEngine } from "../../src/engines/index.ts";
import { asRequestId } from "../../src/protocols/index.ts";

/** The token ids `engine` generates greedily for `tokenIds`. */
export async function greedy(engine: LlamaCppEngine, tokenIds: number[], maxTokens: number): Promise<number[]> {
  const out: number[] = [];
  const request = { requestId: asRequestId(`kv-${Math.random()}`), model: "m", tokenIds, sampling: { temperature: 0 }, stop: { maxTokens, stopTokenIds: [] } };
  for await (const o of engine.generate(request, { signal: new AbortController().signal })) out.push(...o.tokenIds);
  return out;
}

/** A BOS-led prompt of `n` tokens; different salts give different prompts. */
export function promptOf(n: number, salt: number): number[] {
  const ids = [1];
  for (let i = 1; i < n; i++) ids.push(300 + ((i * 31 + salt * 17 + ((i * i) % 13)) % 460));
  return ids;
}
