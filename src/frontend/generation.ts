// One routed chat generation, for the API surfaces beyond Chat Completions (Responses,
// Anthropic Messages): the pipeline's stream through the postprocessor and the request's
// parsers, as steps of parsed events, with the client's disconnect cancelling it.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Usage } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import { toHttpError } from "./openai-errors.ts";
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
  /** The stop string that ended the text, when one did. */
  stopString?: string;
}

export interface ChatRun {
  steps: AsyncGenerator<ChatStep>;
  output: ChatOutput;
  workerId: string;
}

/**
 * Routes `pre` as Chat Completions does (admission included; throws the router's and the
 * admission's refusals before anything is sent) and streams its parsed steps. Admission hears
 * the end when the steps are finished or returned.
 */
export async function runChat(api: ApiContext, req: FastifyRequest, reply: FastifyReply, pipeline: ModelPipeline, pre: Preprocessed): Promise<ChatRun> {
  const { routed, done } = await api.route(req, reply, pipeline, pre.request, api.abortSignal(reply));
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
  let outputTokens = 0;
  let status = 499;
  async function* steps(): AsyncGenerator<ChatStep> {
    try {
      for await (const d of deltas) {
        const events = output.push(d);
        if (d.usage) outputTokens = d.usage.completionTokens;
        if (d.finishReason) {
          status = 200;
          events.push(...output.finish());
          yield { events, finishReason: output.finishReason(d.finishReason), ...(d.usage ? { usage: d.usage } : {}), ...(d.stopString !== undefined ? { stopString: d.stopString } : {}) };
          return;
        }
        if (events.length > 0) yield { events };
      }
    } catch (err) {
      status = toHttpError(err).status;
      throw err;
    } finally {
      await deltas.return(undefined);
      done(outputTokens, status);
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
