// /v1/completions with several prompts, `n` > 1 or `echo`: each prompt (each sample) is
// preprocessed and routed as its own request (the router spreads prompts, prefix hits included;
// a prompt's samples follow its first to the same worker), and the answer has one choice per
// sample, in order (`index`), the prompt's text first with `echo`. Streams interleave the
// choices' chunks as they come, each chunk naming its `index`, as OpenAI does.
import type { FastifyReply, FastifyRequest } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { Usage, WorkerId } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import type { CompletionBody } from "./openai-schemas.ts";
import { postprocess } from "./postprocessor.ts";
import type { TextDelta } from "./postprocessor.ts";

/** Whether the body needs this path: several prompts, `n` > 1, or echo. */
export function isCompletionBatch(body: CompletionBody): boolean {
  const p = body.prompt;
  const many = Array.isArray(p) && p.length > 1 && (typeof p[0] === "string" || Array.isArray(p[0]));
  return many || body.echo === true || (body.n ?? 1) > 1;
}

export async function serveCompletionBatch(req: FastifyRequest, reply: FastifyReply, pipeline: ModelPipeline, body: CompletionBody, api: ApiContext): Promise<unknown> {
  if (body.logprobs != null) throw new TurbineError("REQUEST_UNSUPPORTED", "logprobs are not supported with several prompts or echo", { param: "logprobs" });
  const p = body.prompt;
  const prompts: (string | number[])[] = typeof p === "string" ? [p] : typeof p[0] === "number" ? [p as number[]] : (p as (string | number[])[]);
  // Each prompt alone, echo off, n 1: the preprocessor's checks apply per prompt. Choice
  // i·n + j is prompt i's j-th sample (OpenAI's order); with a seed, sample j uses seed + j.
  const n = body.n ?? 1;
  const pres = prompts.flatMap((one, i) =>
    Array.from({ length: n }, (_, j) =>
      pipeline.preprocessor.completion(
        { ...body, prompt: typeof one === "string" ? one : [one], echo: false, n: 1, ...(body.seed != null ? { seed: body.seed + j } : {}) },
        `${req.id}-${i * n + j}`,
      ),
    ),
  );
  const echoes = prompts.flatMap((one) => Array.from({ length: n }, () => (body.echo === true ? (typeof one === "string" ? one : pipeline.tokenizer.decode(one)) : "")));
  const signal = api.abortSignal(reply);
  // The samples of one prompt go to the worker the first was routed to, where its prefix is.
  const workers: (WorkerId | undefined)[] = [];
  const dones: ((outputTokens: number, status: number) => void)[] = [];
  const runs: AsyncGenerator<TextDelta>[] = [];
  try {
    for (const [k, pre] of pres.entries()) {
      const first = workers[Math.floor(k / n)];
      const request = first === undefined || pre.request.routing?.workerId !== undefined ? pre.request : { ...pre.request, routing: { ...pre.request.routing, workerId: first } };
      const { routed, done } = await api.route(req, reply, pipeline, request, signal);
      dones.push(done);
      if (k % n === 0) workers[Math.floor(k / n)] = routed.decision.workerId;
      runs.push(
        postprocess(routed.outputs, {
          tokenizer: pipeline.tokenizer,
          stopStrings: pre.stopStrings,
          promptTokens: pre.request.tokenIds.length,
          estimatedCachedTokens: routed.decision.cachedTokens,
          promptParam: "prompt",
        }),
      );
    }
  } catch (err) {
    // A later sample refused (admission): the earlier ones are released unstarted.
    for (const d of dones) d(0, 499);
    throw err;
  }
  const usages: (Usage | undefined)[] = [];
  const id = `cmpl-${req.id}`;
  const created = Math.floor(Date.now() / 1000);
  const model = pipeline.card.name;
  const total: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  const add = (u: Usage | undefined, index: number): void => {
    usages[index] = u;
    total.promptTokens += u?.promptTokens ?? 0;
    total.completionTokens += u?.completionTokens ?? 0;
    total.cachedTokens += u?.cachedTokens ?? 0;
  };
  const usageJson = (): Record<string, unknown> => ({
    prompt_tokens: total.promptTokens,
    completion_tokens: total.completionTokens,
    total_tokens: total.promptTokens + total.completionTokens,
    prompt_tokens_details: { cached_tokens: total.cachedTokens },
  });
  const finishAll = (status: number): void => dones.forEach((d, i) => d(usages[i]?.completionTokens ?? 0, usages[i] === undefined && status === 200 ? 499 : status));
  if (!body.stream) {
    let ok = false;
    try {
      const choices = await Promise.all(
        runs.map(async (deltas, index) => {
          let text = echoes[index]!;
          let last: TextDelta | undefined;
          for await (const d of deltas) {
            text += d.text;
            last = d;
          }
          add(last?.usage, index);
          return { index, text, logprobs: null, finish_reason: last?.finishReason ?? "stop" };
        }),
      );
      ok = true;
      return { id, object: "text_completion", created, model, choices, usage: usageJson() };
    } finally {
      finishAll(ok ? 200 : 500);
    }
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choice: Record<string, unknown>): string =>
    `data: ${JSON.stringify({ id, object: "text_completion", created, model, choices: [choice], ...(includeUsage ? { usage: null } : {}) })}\n\n`;
  try {
    await Promise.all(
      runs.map(async (deltas, index) => {
        if (echoes[index]!.length > 0) raw.write(chunk({ index, text: echoes[index], logprobs: null, finish_reason: null }));
        for await (const d of deltas) {
          if (raw.destroyed) return;
          if (d.text.length > 0) raw.write(chunk({ index, text: d.text, logprobs: null, finish_reason: null }));
          if (d.finishReason) {
            add(d.usage, index);
            raw.write(chunk({ index, text: "", logprobs: null, finish_reason: d.finishReason }));
          }
        }
      }),
    );
    if (includeUsage) raw.write(`data: ${JSON.stringify({ id, object: "text_completion", created, model, choices: [], usage: usageJson() })}\n\n`);
    raw.end("data: [DONE]\n\n");
  } catch (err) {
    const e = api.report(err, req);
    api.setStatus(reply, e.status);
    if (!raw.destroyed) raw.end(`data: ${JSON.stringify(e.body)}\n\ndata: [DONE]\n\n`);
  } finally {
    await Promise.all(runs.map((r) => r.return(undefined)));
    finishAll(200);
  }
  return reply;
}
