// One routed chat generation, for the API surfaces beyond Chat Completions (Responses,
// Anthropic Messages): the pipeline's stream through the postprocessor and the request's
// parsers, as steps of parsed events, with the client's disconnect cancelling it.
import type { Usage } from "../protocols/index.ts";
import { ChatOutput } from "./chat-output.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import type { ParsedEvent } from "./parsers/index.ts";
import { postprocess } from "./postprocessor.ts";
import type { Preprocessed } from "./preprocessor.ts";

export interface ChatStep {
  events: ParsedEvent[];
  /** On the last step: OpenAI's finish reason ("stop", "length", "tool_calls", "cancelled"). */
  finishReason?: string;
  usage?: Usage;
}

export interface ChatRun {
  steps: AsyncGenerator<ChatStep>;
  output: ChatOutput;
  workerId: string;
}

/** Routes `pre` on `pipeline` (throws the router's 503s at once) and streams its parsed steps. */
export function runChat(pipeline: ModelPipeline, pre: Preprocessed, signal: AbortSignal): ChatRun {
  const routed = pipeline.generate(pre.request, signal);
  const output = new ChatOutput(pre.output, pipeline.tokenizer);
  const deltas = postprocess(routed.outputs, {
    tokenizer: pipeline.tokenizer,
    stopStrings: pre.stopStrings,
    promptTokens: pre.request.tokenIds.length,
    estimatedCachedTokens: routed.decision.cachedTokens,
    promptParam: "messages",
    keepSpecialTokens: pre.output?.keepSpecialTokens ?? false,
    stopTokenIds: pre.request.stop.stopTokenIds,
  });
  async function* steps(): AsyncGenerator<ChatStep> {
    try {
      for await (const d of deltas) {
        const events = output.push(d);
        if (d.finishReason) {
          events.push(...output.finish());
          yield { events, finishReason: output.finishReason(d.finishReason), ...(d.usage ? { usage: d.usage } : {}) };
          return;
        }
        if (events.length > 0) yield { events };
      }
    } finally {
      await deltas.return(undefined);
    }
  }
  return { steps: steps(), output, workerId: routed.decision.workerId };
}

/** Collects a whole run: text, reasoning, calls, finish reason and usage. */
export async function collectChat(run: ChatRun): Promise<{ text: string; reasoning: string | null; finishReason: string; usage: Usage | undefined }> {
  let text = "";
  let reasoning: string | null = null;
  let finishReason = "stop";
  let usage: Usage | undefined;
  for await (const step of run.steps) {
    for (const e of step.events) {
      if (e.type === "content") text += e.text;
      else if (e.type === "reasoning") reasoning = (reasoning ?? "") + e.text;
    }
    if (step.finishReason) finishReason = step.finishReason;
    if (step.usage) usage = step.usage;
  }
  return { text, reasoning, finishReason, usage };
}
