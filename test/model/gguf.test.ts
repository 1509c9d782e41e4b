import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GGUF_PRESETS,
  RANDOM_BOS_ID,
  RANDOM_CHAT_TEMPLATE,
  RANDOM_EOS_ID,
  buildSpmVocabulary,
  ggufModelInfo,
  loadGgufModel,
  loadTokenizer,
  readGgufHeader,
  toF16Bits,
  writeGguf,
  writeRandomLlamaGguf,
} from "../../src/model/index.ts";
import type { GgufWriteValue } from "../../src/model/index.ts";
import { TurbineError } from "../../src/protocols/index.ts";
import { randomGguf } from "../support/gguf.ts";

const dir = mkdtempSync(join(tmpdir(), "turbine-gguf-test-"));
process.once("exit", () => rmSync(dir, { recursive: true, force: true }));

test("model - GGUF writer and reader round-trip metadata, tensor infos and data", async () => {
  const file = join(dir, "rt.gguf");
  const md = new Map<string, GgufWriteValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["a.u32", { type: "u32", value: 4000000000 }],
    ["a.i32", { type: "i32", value: -7 }],
    ["a.f32", { type: "f32", value: 0.5 }],
    ["a.bool", { type: "bool", value: true }],
    ["a.strs", { type: "string[]", value: ["x", "héllo", ""] }],
    ["a.f32s", { type: "f32[]", value: [1.5, -2] }],
    ["a.i32s", { type: "i32[]", value: [3, -4] }],
  ]);
  const values = [0.25, -1, 3, 65504, 1e-8, 0];
  await writeGguf(file, md, [
    { name: "t.f32", dims: [3, 2], type: "f32", fill: (o) => o.set(values) },
    { name: "t.f16", dims: [6], type: "f16", fill: (o) => o.set(values) },
  ]);
  const h = readGgufHeader(file);
  assert.equal(h.version, 3);
  assert.equal(h.metadata.get("a.u32"), 4000000000);
  assert.equal(h.metadata.get("a.i32"), -7);
  assert.equal(h.metadata.get("a.f32"), 0.5);
  assert.equal(h.metadata.get("a.bool"), true);
  assert.deepEqual(h.metadata.get("a.strs"), ["x", "héllo", ""]);
  assert.deepEqual(h.metadata.get("a.f32s"), [1.5, -2]);
  assert.deepEqual(h.metadata.get("a.i32s"), [3, -4]);
  assert.deepEqual(
    h.tensors.map((t) => [t.name, t.dims, t.type, t.offset]),
    [
      ["t.f32", [3, 2], 0, 0],
      ["t.f16", [6], 1, 32],
    ],
  );
  assert.equal(h.dataOffset % 32, 0);
  const bytes = readFileSync(file);
  const f32 = new Float32Array(bytes.buffer.slice(bytes.byteOffset + h.dataOffset, bytes.byteOffset + h.dataOffset + 24));
  assert.deepEqual([...f32], values.map((v) => Math.fround(v)));
  const f16 = new Uint16Array(bytes.buffer.slice(bytes.byteOffset + h.dataOffset + 32, bytes.byteOffset + h.dataOffset + 44));
  assert.deepEqual([...f16], [0x3400, 0xbc00, 0x4200, 0x7bff, 0x0000, 0x0000]);
});

test("model - F16 conversion rounds to nearest even, handles subnormals and overflow", () => {
  assert.equal(toF16Bits(1), 0x3c00);
  assert.equal(toF16Bits(-2), 0xc000);
  assert.equal(toF16Bits(65520), 0x7c00, "rounds up to infinity");
  assert.equal(toF16Bits(2 ** -24), 0x0001, "smallest subnormal");
  assert.equal(toF16Bits(1 + 2 ** -11), 0x3c00, "tie to even");
  assert.equal(toF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(toF16Bits(Number.NaN) & 0x7e00, 0x7e00);
});

test("model - the SentencePiece vocabulary has the special and byte tokens and exactly the asked size", () => {
  const v = buildSpmVocabulary(1000);
  assert.equal(v.tokens.length, 1000);
  assert.deepEqual(v.tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
  assert.equal(v.tokens[258], "<0xFF>");
  assert.equal(new Set(v.tokens).size, 1000, "no duplicates");
  const pieces = new Set(v.tokens);
  // Each multi-character word piece is reachable by merging two shorter pieces.
  for (let i = 262; i < v.tokens.length; i++) {
    const p = [...v.tokens[i]!];
    if (p.length < 2) continue;
    assert.ok(pieces.has(p.slice(0, -1).join("")) && pieces.has(p.at(-1)!), v.tokens[i]);
  }
});

test("model - a random GGUF model's card and tokenizer come from the file", async () => {
  const path = await randomGguf();
  const info = ggufModelInfo(readGgufHeader(path));
  assert.equal(info.architecture, "llama");
  assert.equal(info.contextLength, GGUF_PRESETS.tiny.contextLength);
  assert.equal(info.chatTemplate, RANDOM_CHAT_TEMPLATE);
  assert.equal(info.bosTokenId, RANDOM_BOS_ID);
  assert.equal(info.eosToken, "</s>");

  const loaded = await loadGgufModel(path, { name: "tiny" });
  try {
    assert.equal(loaded.architecture, "llama");
    assert.deepEqual(loaded.card.tokenizer, { kind: "gguf", path });
    assert.equal(loaded.card.name, "tiny");
    assert.deepEqual(loaded.card.eosTokenIds, [RANDOM_EOS_ID]);
    assert.equal(loaded.card.bosToken, "<s>");
    const t = loaded.tokenizer;
    assert.equal(t.vocabSize, GGUF_PRESETS.tiny.vocabSize);
    const text = "Hello world, the model is here! ünïcode ✓";
    const ids = t.encode(text);
    assert.ok(ids.length < [...text].length, "word pieces merge");
    assert.equal(t.decode(ids), text);
    assert.deepEqual(t.encode(text, { addSpecialTokens: true }), [RANDOM_BOS_ID, ...ids]);
    const rendered = loaded.chatTemplate.render([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
    assert.equal(rendered, "<s><|user|>\nhi</s>\n<|assistant|>\n");
    const chat = t.encode(rendered, { parseSpecialTokens: true });
    assert.equal(chat[0], RANDOM_BOS_ID);
    assert.ok(chat.includes(t.tokenToId("<|assistant|>")!));
    assert.ok(!t.encode(rendered).includes(RANDOM_BOS_ID), "specials in text stay text without parseSpecialTokens");
    assert.ok(t.isSpecialToken(RANDOM_EOS_ID) && t.isSpecialToken(RANDOM_BOS_ID) && !t.isSpecialToken(ids[0]!));
    assert.equal(t.decode([RANDOM_BOS_ID, ...ids, RANDOM_EOS_ID], { skipSpecialTokens: true }), text);
  } finally {
    await loaded.tokenizer.close();
  }
  const same = await loadTokenizer({ kind: "gguf", path });
  assert.equal(same.vocabSize, GGUF_PRESETS.tiny.vocabSize);
});

test("model - the F16 writer produces a file llama.cpp loads, with the same vocabulary", async () => {
  const path = join(dir, "f16.gguf");
  const info = await writeRandomLlamaGguf(path, { preset: "tiny", seed: 3, f16: true });
  assert.ok(info.bytes < info.numParameters * 3, "F16 weights");
  const h = readGgufHeader(path);
  assert.equal(h.metadata.get("general.file_type"), 1);
  assert.equal(h.tensors.find((t) => t.name === "blk.0.attn_q.weight")?.type, 1);
  const t = await loadTokenizer({ kind: "gguf", path });
  assert.equal(t.decode(t.encode("the router")), "the router");
});

test("model - a file that is not GGUF is MODEL_LOAD_FAILED naming it", () => {
  const bad = join(dir, "bad.gguf");
  writeFileSync(bad, "not a gguf file at all");
  assert.throws(() => readGgufHeader(bad), (e: unknown) => e instanceof TurbineError && e.code === "MODEL_LOAD_FAILED" && e.message.includes(bad));
  assert.throws(() => readGgufHeader(join(dir, "missing.gguf")), (e: unknown) => e instanceof TurbineError && e.code === "MODEL_LOAD_FAILED");
});
