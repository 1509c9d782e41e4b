// /v1/chat/completions with `n` > 1: the messages are rendered and tokenized once, the n samples
// routed to one worker (samples.ts: the prompt's KV is shared), and each choice goes through its
// own parsers (tool calls, reasoning, logprobs) exactly as a lone choice does. Streams interleave
// the choices' chunks as they come, each naming its `index`, one finish chunk per choice; usage
// comes once at the end.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { TokenLogprob, Usage } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import { ChatOutput, chatStreamChoices } from "./chat-output.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import type { ChatCompletionBody } from "./openai-schemas.ts";
import { postprocess } from "./postprocessor.ts";
import type { Preprocessed } from "./preprocessor.ts";
import { routeSamples, sampleRequests, samplesUsageJson } from "./samples.ts";

/** Whether the body asks for several choices. */
export function isChatSamples(body: ChatCompletionBody): boolean {
  return (body.n ?? 1) > 1;
}

/** Serves `pre` (the body preprocessed with n: 1) as `body.n` samples. */
export async function serveChatSamples(req: FastifyRequest, reply: FastifyReply, pipeline: ModelPipeline, body: ChatCompletionBody, pre: Preprocessed, api: ApiContext): Promise<unknown> {
  const n = body.n ?? 1;
  const signal = api.abortSignal(reply);
  const samples = await routeSamples(api, req, reply, pipeline, sampleRequests(pre.request, n, req.id, 0), n, signal);
  const runs = samples.routed.map((routed) => ({
    output: new ChatOutput(pre.output, pipeline.tokenizer),
    deltas: postprocess(routed.outputs, {
      tokenizer: pipeline.tokenizer,
      stopStrings: pre.stopStrings,
      promptTokens: pre.request.tokenIds.length,
      estimatedCachedTokens: routed.decision.cachedTokens,
      promptParam: "messages",
      keepSpecialTokens: pre.output?.keepSpecialTokens ?? false,
      stopTokenIds: pre.request.stop.stopTokenIds,
    }),
  }));
  const usages: (Usage | undefined)[] = [];
  const id = `chatcmpl-${req.id}`;
  const created = Math.floor(Date.now() / 1000);
  const model = pipeline.card.name;
  const wantLogprobs = pre.request.logprobs !== undefined;
  if (!body.stream) {
    let ok = false;
    try {
      const choices = await Promise.all(
        runs.map(async ({ output, deltas }, index) => {
          let text = "";
          let reasoning: string | null = null;
          let engineFinish = "stop";
          const lps: TokenLogprob[] = [];
          const take = (events: ReturnType<ChatOutput["push"]>): void => {
            for (const e of events) {
              if (e.type === "content") text += e.text;
              else if (e.type === "reasoning") reasoning = (reasoning ?? "") + e.text;
            }
          };
          for await (const d of deltas) {
            take(output.push(d));
            if (d.logprobs) lps.push(...d.logprobs);
            if (d.finishReason) {
              engineFinish = d.finishReason;
              usages[index] = d.usage;
            }
          }
          take(output.finish());
          const calls = output.toolCalls;
          const message: Record<string, unknown> = { role: "assistant", content: calls.length > 0 && text.length === 0 ? null : text };
          if (reasoning !== null) message["reasoning_content"] = reasoning;
          if (calls.length > 0) message["tool_calls"] = calls;
          return { index, message, logprobs: wantLogprobs ? { content: output.logprobsJson(lps) } : null, finish_reason: output.finishReason(engineFinish) };
        }),
      );
      ok = true;
      return { id, object: "chat.completion", created, model, choices, usage: samplesUsageJson(usages, n) };
    } finally {
      samples.finish(usages, ok ? 200 : 500);
    }
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  const includeUsage = body.stream_options?.include_usage === true;
  const prefix = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const suffix = includeUsage ? '],"usage":null}\n\n' : "]}\n\n";
  try {
    await Promise.all(
      runs.map(async ({ output, deltas }, index) => {
        let role = true;
        for await (const d of deltas) {
          if (raw.destroyed) return;
          const events = output.push(d);
          if (d.finishReason) events.push(...output.finish());
          let text = "";
          for (const c of chatStreamChoices(events, d.logprobs ? output.logprobsJson(d.logprobs) : null, role, index)) text += prefix + c + suffix;
          role = false;
          if (d.finishReason) {
            usages[index] = d.usage;
            text += `${prefix}{"index":${index},"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(output.finishReason(d.finishReason))}}${suffix}`;
          }
          if (text.length > 0) raw.write(text);
        }
      }),
    );
    if (includeUsage) raw.write(`${prefix}],"usage":${JSON.stringify(samplesUsageJson(usages, n))}}\n\n`);
    raw.end("data: [DONE]\n\n");
  } catch (err) {
    const e = api.report(err, req);
    api.setStatus(reply, e.status);
    if (!raw.destroyed) raw.end(`data: ${JSON.stringify(e.body)}\n\ndata: [DONE]\n\n`);
  } finally {
    await Promise.all(runs.map((r) => r.deltas.return(undefined)));
    samples.finish(usages, 200);
  }
  return reply;
}
