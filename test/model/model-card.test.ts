import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TurbineError } from "../../src/protocols/index.ts";
import {
  BYTE_CHAT_TEMPLATE,
  ByteTokenizer,
  FALLBACK_CONTEXT_LENGTH,
  HfTokenizer,
  PLAIN_CHAT_TEMPLATE,
  builtinByteModel,
  completeModelCard,
  loadHuggingFaceModel,
  loadModelForCard,
  loadTokenizer,
} from "../../src/model/index.ts";

// A hand-made byte-level BPE model (GPT-2 byte alphabet, ten merges, five special tokens).
const FIXTURE = new URL("./fixtures/tiny-bpe/", import.meta.url).pathname;
const BOS = 266;
const EOS = 267;
const USER = 268;
const ASSISTANT = 269;
const END = 270;

/** A writable copy of the fixture, edited by `edit`; removed after the test. */
function withCopy(t: { after(fn: () => void): void }, edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "turbine-model-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const folder = join(dir, "copy");
  cpSync(FIXTURE, folder, { recursive: true });
  edit(folder);
  return folder;
}

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

async function assertLoadFails(folder: string, mention: string): Promise<void> {
  await assert.rejects(loadHuggingFaceModel(folder), (e: unknown) => {
    assert.ok(e instanceof TurbineError, String(e));
    assert.equal(e.code, "MODEL_LOAD_FAILED");
    assert.ok(e.message.includes(mention), `${e.message} does not mention ${mention}`);
    return true;
  });
}

test("model card - a Hugging Face folder gives its card: EOS ids, BOS, context length, template", async () => {
  const { card } = await loadHuggingFaceModel(FIXTURE);
  assert.equal(card.name, "tiny-bpe");
  assert.deepEqual(card.tokenizer, { kind: "huggingface", path: FIXTURE.replace(/\/$/, "") });
  // config.json's max_position_embeddings; tokenizer_config.json's 1e30 sentinel is ignored.
  assert.equal(card.contextLength, 1024);
  assert.equal(card.kvBlockSize, 16);
  // eos_token (an AddedToken object in tokenizer_config.json), then generation_config.json's list.
  assert.deepEqual(card.eosTokenIds, [EOS, END]);
  assert.equal(card.bosTokenId, BOS);
  assert.equal(card.bosToken, "<|bos|>");
  assert.equal(card.eosToken, "<|eos|>");
  // The "default" entry of a list of named templates.
  assert.ok(card.chatTemplate?.startsWith("{{ bos_token }}"));

  const named = await loadHuggingFaceModel(FIXTURE, { name: "tiny", contextLength: 512, kvBlockSize: 32 });
  assert.equal(named.card.name, "tiny");
  assert.equal(named.card.contextLength, 512);
  assert.equal(named.card.kvBlockSize, 32);
});

test("model card - Hugging Face tokenizer: encode/decode round trip, specials, BOS", async () => {
  const { tokenizer } = await loadHuggingFaceModel(FIXTURE);
  assert.ok(tokenizer instanceof HfTokenizer);
  assert.equal(tokenizer.vocabSize, 271);
  assert.deepEqual(tokenizer.encode("hello world"), [259, 264]);
  assert.deepEqual(tokenizer.encode("hello", { addSpecialTokens: true }), [BOS, 259]);
  for (const text of ["hello world", "héllo wörld 😀👩‍👩‍👧", "e\u0301 日本語\n\ttabs", ""]) {
    assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
  }
  assert.deepEqual(tokenizer.encode("<|user|>hi<|end|>"), [USER, 104, 105, END]);
  assert.equal(tokenizer.decode([BOS, 104, EOS]), "<|bos|>h<|eos|>");
  assert.equal(tokenizer.decode([BOS, 104, EOS], { skipSpecialTokens: true }), "h");
  assert.equal(tokenizer.decode([104, 99999]), "h");
  assert.equal(tokenizer.tokenToId("<|assistant|>"), ASSISTANT);
  assert.equal(tokenizer.tokenToId("hello"), 259);
  assert.equal(tokenizer.isSpecialToken(EOS), true);
  assert.equal(tokenizer.isSpecialToken(259), false);
  assert.deepEqual(tokenizer.eosTokenIds, [EOS, END]);
});

test("model card - Hugging Face chat template renders and tokenizes; its exceptions are request errors", async () => {
  const { tokenizer, chatTemplate } = await loadHuggingFaceModel(FIXTURE);
  const prompt = chatTemplate.render([
    { role: "user", content: "hello" },
    { role: "assistant", content: "world" },
    { role: "user", content: [{ type: "text", text: "hello" }] },
  ]);
  assert.equal(prompt, "<|bos|><|user|>hello<|end|><|assistant|>world<|end|><|user|>hello<|end|><|assistant|>");
  const ids = tokenizer.encode(prompt);
  assert.deepEqual(ids.slice(0, 4), [BOS, USER, 259, END]);
  assert.equal(ids.at(-1), ASSISTANT);
  await assert.rejects(
    async () => chatTemplate.render([{ role: "system", content: "x" }]),
    (e: unknown) => e instanceof TurbineError && e.code === "REQUEST_INVALID" && /Only user and assistant/.test(e.message),
  );
});

test("model card - optional files: context length and template fallbacks, eos_token_id as a number", async (t) => {
  const folder = withCopy(t, (dir) => {
    unlinkSync(join(dir, "config.json"));
    editJson(join(dir, "tokenizer_config.json"), (j) => {
      delete j.chat_template;
      j.model_max_length = 2048;
    });
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: END }));
    writeFileSync(join(dir, "chat_template.jinja"), "{% for m in messages %}[{{ m.content }}]{% endfor %}");
  });
  const model = await loadHuggingFaceModel(folder);
  assert.equal(model.card.name, "copy");
  assert.equal(model.card.contextLength, 2048);
  assert.deepEqual(model.card.eosTokenIds, [EOS, END]);
  assert.equal(model.chatTemplate.render([{ role: "user", content: "a" }]), "[a]");

  const bare = withCopy(t, (dir) => {
    for (const f of ["config.json", "generation_config.json", "tokenizer_config.json"]) unlinkSync(join(dir, f));
  });
  const minimal = await loadHuggingFaceModel(bare);
  assert.equal(minimal.card.contextLength, FALLBACK_CONTEXT_LENGTH);
  assert.equal(minimal.card.chatTemplate, undefined);
  assert.equal(minimal.chatTemplate.source, PLAIN_CHAT_TEMPLATE);
  assert.deepEqual(minimal.card.eosTokenIds, []);
  assert.equal(minimal.tokenizer.decode(minimal.tokenizer.encode("hello world")), "hello world");
});

test("model card - model folder errors are MODEL_LOAD_FAILED naming the path", async (t) => {
  await assertLoadFails("/nonexistent/turbine-model", "/nonexistent/turbine-model");
  const noTokenizer = withCopy(t, (dir) => unlinkSync(join(dir, "tokenizer.json")));
  await assertLoadFails(noTokenizer, join(noTokenizer, "tokenizer.json"));
  const badJson = withCopy(t, (dir) => writeFileSync(join(dir, "tokenizer_config.json"), "{ not json"));
  await assertLoadFails(badJson, join(badJson, "tokenizer_config.json"));
  const notObject = withCopy(t, (dir) => writeFileSync(join(dir, "config.json"), "[1, 2]"));
  await assertLoadFails(notObject, join(notObject, "config.json"));
  const notTokenizer = withCopy(t, (dir) => writeFileSync(join(dir, "tokenizer.json"), "{}"));
  await assertLoadFails(notTokenizer, join(notTokenizer, "tokenizer.json"));
  const badTemplate = withCopy(t, (dir) =>
    editJson(join(dir, "tokenizer_config.json"), (j) => {
      j.chat_template = "{% if %}";
    }),
  );
  await assertLoadFails(badTemplate, "chat template");
});

test("model card - the built-in byte model", () => {
  const model = builtinByteModel();
  assert.ok(model.tokenizer instanceof ByteTokenizer);
  assert.deepEqual(model.card, {
    name: "turbine-byte",
    tokenizer: { kind: "byte" },
    chatTemplate: BYTE_CHAT_TEMPLATE,
    contextLength: 32768,
    kvBlockSize: 16,
    eosTokenIds: [257],
    bosTokenId: 256,
    bosToken: "<|bos|>",
    eosToken: "<|eos|>",
  });
});

test("model card - the worker completes a draft with its capacity and role", () => {
  const { card } = builtinByteModel();
  const full = completeModelCard(card, { numKvBlocks: 1000, role: "decode" });
  assert.equal(full.numKvBlocks, 1000);
  assert.equal(full.role, "decode");
  assert.equal(full.kvBlockSize, 16);
  assert.equal(full.name, "turbine-byte");
  assert.equal(full.publishesKvEvents, undefined);
  const other = completeModelCard(card, { numKvBlocks: 1, role: "prefill", kvBlockSize: 64, publishesKvEvents: false });
  assert.equal(other.kvBlockSize, 64);
  assert.equal(other.publishesKvEvents, false);
});

test("model card - loadTokenizer builds the tokenizer a card names; a missing GGUF file fails to load", async () => {
  assert.ok((await loadTokenizer({ kind: "byte" })) instanceof ByteTokenizer);
  const hf = await loadTokenizer({ kind: "huggingface", path: FIXTURE });
  assert.deepEqual(hf.encode("hello world"), [259, 264]);
  assert.deepEqual(hf.eosTokenIds, [EOS, END]);
  await assert.rejects(
    loadTokenizer({ kind: "gguf", path: "/models/x.gguf" }),
    (e: unknown) => e instanceof TurbineError && e.code === "MODEL_LOAD_FAILED" && e.message.includes("/models/x.gguf"),
  );
  await assert.rejects(
    loadTokenizer({ kind: "huggingface", path: "/nonexistent/x" }),
    (e: unknown) => e instanceof TurbineError && e.code === "MODEL_LOAD_FAILED",
  );
});

test("model card - loadModelForCard gives a discovered card's tokenizer and template", async () => {
  const byte = await loadModelForCard(builtinByteModel().card);
  assert.ok(byte.tokenizer instanceof ByteTokenizer);
  assert.equal(byte.chatTemplate.render([{ role: "user", content: "x" }]), "<|bos|><|user|>x<|eos|><|assistant|>");
  const { card } = await loadHuggingFaceModel(FIXTURE);
  const hf = await loadModelForCard({ ...card, chatTemplate: "{{ eos_token }}{{ messages | length }}" });
  assert.deepEqual(hf.tokenizer.eosTokenIds, [EOS, END]);
  assert.equal(hf.chatTemplate.render([{ role: "user", content: "x" }]), "<|eos|>1");
});
