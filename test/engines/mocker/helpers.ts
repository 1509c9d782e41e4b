// Shared fixtures for the mocker tests: requests and an event recorder.
import type { EngineKvEvent } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { PreprocessedRequest, SequenceHash } from "../../../src/protocols/index.ts";

export function makeRequest(
  id: string,
  tokenIds: number[],
  options: { maxTokens?: number; stopTokenIds?: number[]; ignoreEos?: boolean; seed?: number; numPrefilledOutputTokens?: number } = {},
): PreprocessedRequest {
  const req: PreprocessedRequest = {
    requestId: asRequestId(id),
    model: "mock",
    tokenIds,
    sampling: options.seed === undefined ? {} : { seed: options.seed },
    stop: { maxTokens: options.maxTokens ?? 4, stopTokenIds: options.stopTokenIds ?? [], ignoreEos: options.ignoreEos ?? true },
  };
  if (options.numPrefilledOutputTokens !== undefined) req.numPrefilledOutputTokens = options.numPrefilledOutputTokens;
  return req;
}

/** Tokens start, start+1, ... (distinct prompts for distinct starts). */
export function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

/** Records KV events and mirrors the block set they describe. */
export class EventRecorder {
  readonly events: EngineKvEvent[] = [];
  readonly blocks = new Set<SequenceHash>();

  readonly listener = (e: EngineKvEvent): void => {
    this.events.push(e);
    if (e.data.type === "stored") for (const b of e.data.blocks) {
      if (this.blocks.has(b.hash)) throw new Error(`stored twice: ${b.hash}`);
      this.blocks.add(b.hash);
    } else if (e.data.type === "removed") for (const h of e.data.hashes) {
      if (!this.blocks.delete(h)) throw new Error(`removed but not stored: ${h}`);
    } else this.blocks.clear();
  };

  removed(): SequenceHash[][] {
    return this.events.flatMap((e) => (e.data.type === "removed" ? [e.data.hashes] : []));
  }
}
