// `n` > 1 (Chat Completions and Completions): the samples of one prompt, each its own routed
// request, all on the worker the first went to, where the prompt's KV is; usage counts each
// prompt once and sums the samples' completions. Shared by chat-samples.ts and
// completions-batch.ts, which only shape the answers.
import type { FastifyReply, FastifyRequest } from "fastify";
import { asRequestId } from "../protocols/index.ts";
import type { PreprocessedRequest, Usage, WorkerId } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import type { ModelPipeline, RoutedStream } from "./model-pipeline.ts";

/**
 * The `n` samples of one preprocessed prompt, ids `${idBase}-${firstIndex + j}`. With a seed,
 * sample j uses seed + j: the samples differ from each other and the request is reproducible.
 */
export function sampleRequests(request: PreprocessedRequest, n: number, idBase: string, firstIndex: number): PreprocessedRequest[] {
  const seed = request.sampling.seed;
  return Array.from({ length: n }, (_, j) => ({
    ...request,
    requestId: asRequestId(`${idBase}-${firstIndex + j}`),
    sampling: { ...request.sampling, ...(seed !== undefined ? { seed: seed + j } : {}) },
  }));
}

export interface RoutedSamples {
  routed: RoutedStream[];
  /** Admission's end of each sample: call `finish` once, at the response's end. */
  finish(usages: readonly (Usage | undefined)[], status: number): void;
}

/**
 * Routes `requests`, groups of `n` consecutive samples of one prompt: each group's later samples
 * go to the worker its first was routed to (unless the client named one). A refusal of a later
 * sample releases the earlier ones unstarted and is thrown. Sets x-turbine-worker when every
 * sample runs on one worker.
 */
export async function routeSamples(
  api: ApiContext,
  req: FastifyRequest,
  reply: FastifyReply,
  pipeline: ModelPipeline,
  requests: readonly PreprocessedRequest[],
  n: number,
  signal: AbortSignal,
): Promise<RoutedSamples> {
  const workers: (WorkerId | undefined)[] = [];
  const dones: ((outputTokens: number, status: number) => void)[] = [];
  const routed: RoutedStream[] = [];
  try {
    for (const [k, request] of requests.entries()) {
      const first = workers[Math.floor(k / n)];
      const pinned = first === undefined || request.routing?.workerId !== undefined ? request : { ...request, routing: { ...request.routing, workerId: first } };
      const r = await api.route(req, reply, pipeline, pinned, signal);
      dones.push(r.done);
      routed.push(r.routed);
      if (k % n === 0) workers[Math.floor(k / n)] = r.routed.decision.workerId;
    }
  } catch (err) {
    for (const d of dones) d(0, 499);
    throw err;
  }
  const one = routed[0]?.decision.workerId;
  if (one !== undefined && routed.every((r) => r.decision.workerId === one)) reply.header("x-turbine-worker", one);
  return {
    routed,
    finish: (usages, status) => dones.forEach((d, i) => d(usages[i]?.completionTokens ?? 0, usages[i] === undefined && status === 200 ? 499 : status)),
  };
}

/** OpenAI's usage of samples in groups of `n` (one per prompt): each prompt once, every completion. */
export function samplesUsageJson(usages: readonly (Usage | undefined)[], n: number): Record<string, unknown> {
  let prompt = 0;
  let cached = 0;
  let completion = 0;
  for (let g = 0; g < usages.length; g += n) {
    // The prompt as its first finished sample saw it (its later samples reuse its KV).
    const u = usages.slice(g, g + n).find((x) => x !== undefined);
    prompt += u?.promptTokens ?? 0;
    cached += u?.cachedTokens ?? 0;
  }
  for (const u of usages) completion += u?.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}
