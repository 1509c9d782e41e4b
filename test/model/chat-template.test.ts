import { test } from "node:test";
import assert from "node:assert/strict";
import { TurbineError } from "../../src/protocols/index.ts";
import { ChatTemplate, PLAIN_CHAT_TEMPLATE, builtinByteModel, chatTemplateForCard } from "../../src/model/index.ts";

const { chatTemplate, tokenizer } = builtinByteModel();

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TurbineError && e.code === code);
}

test("chat template - the byte model's template renders roles between special tokens", () => {
  const prompt = chatTemplate.render([
    { role: "system", content: "be brief" },
    { role: "user", content: "hi" },
  ]);
  assert.equal(prompt, "<|bos|><|system|>be brief<|eos|><|user|>hi<|eos|><|assistant|>");
  const ids = tokenizer.encode(prompt, { parseSpecialTokens: true });
  assert.deepEqual(ids.slice(0, 2), [256, 258]);
  assert.equal(ids.at(-1), 260);
  assert.equal(
    chatTemplate.render([{ role: "user", content: "hi" }], { addGenerationPrompt: false }),
    "<|bos|><|user|>hi<|eos|>",
  );
});

test("chat template - content arrays of text parts are joined; developer is system; null content is empty", () => {
  const prompt = chatTemplate.render([
    { role: "developer", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
    { role: "assistant", content: null },
  ]);
  assert.equal(prompt, "<|bos|><|system|>a\nb<|eos|><|assistant|><|eos|><|assistant|>");
});

test("chat template - errors caused by the messages are request errors", () => {
  assertCode(() => chatTemplate.render([{ role: "wizard", content: "x" }]), "REQUEST_INVALID");
  assertCode(
    () => chatTemplate.render([{ role: "user", content: [{ type: "image_url" }] }]),
    "REQUEST_UNSUPPORTED",
  );
  const strict = new ChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('user first') }}{% endif %}ok");
  assert.throws(
    () => strict.render([{ role: "assistant", content: "x" }]),
    (e: unknown) => e instanceof TurbineError && e.code === "REQUEST_INVALID" && /user first/.test(e.message),
  );
});

test("chat template - a template that does not parse is a model load error", () => {
  assertCode(() => new ChatTemplate("{% for m in messages %}"), "MODEL_LOAD_FAILED");
});

test("chat template - tools and extra variables reach the template", () => {
  const t = new ChatTemplate(
    "{% if tools is defined %}{{ tools | length }} tools{% else %}no tools{% endif %} {{ date_string }}",
  );
  assert.equal(t.render([], { variables: { date_string: "today" } }), "no tools today");
  assert.equal(t.render([], { tools: [{ type: "function" }, { type: "function" }], variables: { date_string: "x" } }), "2 tools x");
});

test("chat template - a card without a template gets the plain role: content rendering", () => {
  const plain = chatTemplateForCard({});
  assert.equal(plain.source, PLAIN_CHAT_TEMPLATE);
  assert.equal(plain.render([{ role: "user", content: "hi" }]), "user: hi\nassistant: ");
  const own = chatTemplateForCard({ chatTemplate: "{{ bos_token }}|{{ eos_token }}", bosToken: "<s>", eosToken: "</s>" });
  assert.equal(own.render([]), "<s>|</s>");
});
