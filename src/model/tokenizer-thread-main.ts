// A tokenizer thread (tokenizer-threads.ts): loads the tokenizer of `workerData.source` and
// answers encode requests, one at a time, in order.
import { parentPort, workerData } from "node:worker_threads";
import type { TokenizerSource } from "../protocols/index.ts";
import { HfTokenizer } from "./hf-tokenizer.ts";
import { loadTokenizer } from "./model-card.ts";
import type { Tokenizer } from "./tokenizer.ts";

export type ThreadRequest =
  | { kind: "encode"; id: number; text: string; addSpecialTokens: boolean; parseSpecialTokens: boolean }
  | { kind: "sections"; id: number; texts: string[]; firsts: boolean[] };

export type ThreadReply =
  | { kind: "ready" }
  | { kind: "fatal"; message: string }
  | { kind: "encoded"; id: number; ids: Uint32Array }
  | { kind: "sections"; id: number; ids: (Uint32Array | null)[] }
  | { kind: "error"; id: number; message: string };

function answer(tokenizer: Tokenizer, m: ThreadRequest): { reply: ThreadReply; transfer: ArrayBuffer[] } {
  if (m.kind === "encode") {
    const ids = Uint32Array.from(tokenizer.encode(m.text, { addSpecialTokens: m.addSpecialTokens, parseSpecialTokens: m.parseSpecialTokens }));
    return { reply: { kind: "encoded", id: m.id, ids }, transfer: [ids.buffer as ArrayBuffer] };
  }
  const segmentation = tokenizer instanceof HfTokenizer ? tokenizer.segmentation : undefined;
  if (segmentation === undefined) return { reply: { kind: "error", id: m.id, message: "this tokenizer has no sections" }, transfer: [] };
  const ids: (Uint32Array | null)[] = [];
  const transfer: ArrayBuffer[] = [];
  for (let i = 0; i < m.texts.length; i++) {
    const section = segmentation.encodeSection(m.texts[i]!, m.firsts[i]!);
    const out = section === undefined ? null : Uint32Array.from(section);
    ids.push(out);
    if (out !== null) transfer.push(out.buffer as ArrayBuffer);
  }
  return { reply: { kind: "sections", id: m.id, ids }, transfer };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("tokenizer-thread-main.ts runs as a worker thread");
  const { source } = workerData as { source: TokenizerSource };
  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadTokenizer(source);
  } catch (err) {
    // Nothing else is listening: the thread ends after this message.
    port.postMessage({ kind: "fatal", message: (err as Error).message } satisfies ThreadReply);
    return;
  }
  port.on("message", (m: ThreadRequest) => {
    let out: { reply: ThreadReply; transfer: ArrayBuffer[] };
    try {
      out = answer(tokenizer, m);
    } catch (err) {
      out = { reply: { kind: "error", id: m.id, message: (err as Error).message }, transfer: [] };
    }
    port.postMessage(out.reply, out.transfer);
  });
  port.postMessage({ kind: "ready" } satisfies ThreadReply);
}

await main();
