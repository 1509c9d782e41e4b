// What a request asks of llama.cpp's sampler beyond temperature/top-k/top-p: a grammar
// (guided decoding: JSON, a JSON schema, a forced tool call), penalties over the tokens
// generated so far, logit biases. Grammars are compiled once per schema and kept (bounded).
import { LlamaGrammarEvaluationState, TokenBias } from "node-llama-cpp";
import type { LlamaGrammar, LlamaModel, SequenceEvaluateOptions, Token } from "node-llama-cpp";
import { TurbineError } from "../../protocols/index.ts";
import type { GuidedDecoding, PreprocessedRequest } from "../../protocols/index.ts";

/** Compiled grammars kept per engine (schemas repeat: one per tool set or response format). */
const MAX_CACHED_GRAMMARS = 64;

/** The generated tokens penalties look at: OpenAI's penalties count the whole output; llama.cpp needs a bound. */
const MAX_PUNISH_TOKENS = 1024;

export interface SamplingCounters {
  /** Requests generated under a grammar. */
  numGuidedRequests: number;
  /** Non-strict schemas node-llama-cpp cannot compile, generated as any JSON instead. */
  numGuidedFallbacks: number;
}

export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly model: LlamaModel) {}

  /**
   * The grammar of `guided`. A schema node-llama-cpp cannot turn into a grammar is refused when
   * `strict` (REQUEST_UNSUPPORTED), and generated as any JSON value otherwise (OpenAI's
   * non-strict schemas are followed on a best-effort basis); `onFallback` counts those.
   */
  async grammarFor(guided: GuidedDecoding, onFallback: () => void): Promise<LlamaGrammar> {
    const llama = this.model.llama;
    if (guided.kind === "json_object") return this.cached("json", () => llama.getGrammarFor("json"));
    const { schema, unsupported } = toGrammarSchema(guided.schema);
    if (unsupported.length > 0) {
      if (guided.strict === true) {
        throw new TurbineError(
          "REQUEST_UNSUPPORTED",
          `The llama.cpp engine cannot enforce these JSON schema keywords in strict mode: ${unsupported.join(", ")}`,
          { param: "response_format" },
        );
      }
      onFallback();
    }
    const key = JSON.stringify(schema);
    return this.cached(key, async () => {
      // The schema is the client's; node-llama-cpp checks it at run time.
      const g = await llama.createGrammarForJsonSchema(schema as unknown as { const: string });
      return llama.createGrammar({ grammar: tightened(g.grammar) });
    });
  }

  private cached(key: string, make: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    let g = this.grammars.get(key);
    if (g === undefined) {
      g = make();
      this.grammars.set(key, g);
      if (this.grammars.size > MAX_CACHED_GRAMMARS) this.grammars.delete(this.grammars.keys().next().value!);
    } else {
      // LRU: a hit moves to the back.
      this.grammars.delete(key);
      this.grammars.set(key, g);
    }
    return g;
  }
}

/** Keywords node-llama-cpp's JSON-schema grammars enforce (and annotations, which need nothing). */
const ENFORCED = new Set([
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
  "minProperties", "maxProperties", "enum", "const", "oneOf", "anyOf", "$defs", "definitions", "$ref",
  "minLength", "maxLength", "format",
  "description", "title", "$schema", "$id", "$comment", "default", "examples", "strict",
]);
const FORMATS = new Set(["date-time", "time", "date"]);

/**
 * The schema as node-llama-cpp takes it (`anyOf` as `oneOf`: a value generated from one branch
 * satisfies both; `definitions` as `$defs`), and the keywords it would not enforce.
 */
function toGrammarSchema(schema: unknown): { schema: unknown; unsupported: string[] } {
  const unsupported = new Set<string>();
  const walk = (v: unknown, key: string | null): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, null));
    if (typeof v !== "object" || v === null) {
      if (key === "$ref" && typeof v === "string") return v.replace(/^#\/definitions\//, "#/$defs/");
      return v;
    }
    // Inside these the keys are names, not keywords.
    const named = key === "properties" || key === "$defs" || key === "definitions";
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (!named && !ENFORCED.has(k)) {
        unsupported.add(k);
        continue;
      }
      if (!named && k === "format" && !(typeof x === "string" && FORMATS.has(x))) {
        unsupported.add(`format: ${String(x)}`);
        continue;
      }
      const name = named ? k : k === "anyOf" ? "oneOf" : k === "definitions" ? "$defs" : k;
      out[name] = walk(x, named ? null : k);
    }
    return out;
  };
  return { schema: walk(schema, null), unsupported: [...unsupported].sort() };
}

/**
 * node-llama-cpp's schema grammars allow exponents in numbers (`"days": 3e999`, which parses as
 * Infinity, not an integer) and force four newlines after the value; the grammar here ends at
 * the value (then only EOS is allowed) and writes numbers in plain notation.
 */
function tightened(grammar: string): string {
  return grammar.replaceAll(' ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?', "").replace(/ "\\n\\n\\n\\n" \[\\n\]\*$/m, "");
}

/**
 * The sampler options of `request` beyond temperature/top-k/top-p/seed. `generated` is the
 * request's output so far (the engine appends to it); penalties read it at each step.
 */
export async function samplerOptionsOf(
  request: PreprocessedRequest,
  model: LlamaModel,
  grammars: GrammarCache,
  generated: readonly number[],
  counters: SamplingCounters,
): Promise<Pick<SequenceEvaluateOptions, "grammarEvaluationState" | "repeatPenalty" | "tokenBias">> {
  const out: Pick<SequenceEvaluateOptions, "grammarEvaluationState" | "repeatPenalty" | "tokenBias"> = {};
  if (request.guided !== undefined) {
    const grammar = await grammars.grammarFor(request.guided, () => counters.numGuidedFallbacks++);
    out.grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar });
    counters.numGuidedRequests++;
  }
  const s = request.sampling;
  const presence = s.presencePenalty ?? 0;
  const frequency = s.frequencyPenalty ?? 0;
  const repetition = s.repetitionPenalty ?? 1;
  if (presence !== 0 || frequency !== 0 || repetition !== 1) {
    out.repeatPenalty = {
      punishTokens: () => (generated.length > MAX_PUNISH_TOKENS ? generated.slice(-MAX_PUNISH_TOKENS) : generated) as Token[],
      maxPunishTokens: MAX_PUNISH_TOKENS,
      penalty: repetition,
      presencePenalty: presence,
      frequencyPenalty: frequency,
    };
  }
  if (s.logitBias !== undefined) {
    const entries = Object.entries(s.logitBias);
    if (entries.length > 0) {
      const bias = new TokenBias(model.tokenizer);
      for (const [id, value] of entries) bias.set(Number(id) as Token, { logit: value });
      out.tokenBias = bias;
    }
  }
  return out;
}
