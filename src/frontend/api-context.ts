// What the HTTP server hands the API surfaces registered beside Chat Completions (Responses,
// Anthropic Messages, embeddings): model lookup, cancellation on disconnect, error reporting and
// prompt bounds, so that every surface counts, authenticates and refuses the same way.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PreprocessedRequest } from "../protocols/index.ts";
import type { ModelPipeline, RoutedStream } from "./model-pipeline.ts";
import type { toHttpError } from "./openai-errors.ts";
import type { ChatCompletionBody } from "./openai-schemas.ts";

export interface ApiContext {
  /** The model's pipeline (MODEL_NOT_FOUND, param "model", when unknown); labels the request's metrics. */
  modelOf(name: string, reply: FastifyReply): ModelPipeline;
  /** A signal aborted when the client goes away before the response is finished. */
  abortSignal(reply: FastifyReply): AbortSignal;
  /** The final status of a streamed response that ended in an error after its 200. */
  setStatus(reply: FastifyReply, status: number): void;
  /** Logs or counts an error and gives its OpenAI form. */
  report(err: unknown, req: FastifyRequest): ReturnType<typeof toHttpError>;
  /** The HTTP server's prompt bounds (messages, characters). */
  checkBounds(body: ChatCompletionBody): void;
  /**
   * Routes one generation as Chat Completions does: waits for a worker to start (scale to
   * zero), then admission (tenant, limits, queue) when configured. `done` exactly once, at its end.
   */
  route(req: FastifyRequest, reply: FastifyReply, pipeline: ModelPipeline, request: PreprocessedRequest, signal: AbortSignal): Promise<{ routed: RoutedStream; done(outputTokens: number, status: number): void }>;
}
