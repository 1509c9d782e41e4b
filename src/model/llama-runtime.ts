// One shared node-llama-cpp instance per process and compute setting: loading the native
// binding takes most of a second, and llama.cpp's thread pool should be shared.
import { LlamaLogLevel, getLlama } from "node-llama-cpp";
import type { Llama } from "node-llama-cpp";

export interface LlamaRuntimeOptions {
  /** false: CPU only (default); "auto": the best GPU backend found (CUDA, Metal, Vulkan). */
  gpu?: false | "auto";
}

const shared = new Map<string, Promise<Llama>>();

/** The process's llama.cpp instance for `options` (created on first use; prebuilt binaries only). */
export function sharedLlama(options: LlamaRuntimeOptions = {}): Promise<Llama> {
  const gpu = options.gpu ?? false;
  const key = String(gpu);
  let llama = shared.get(key);
  if (llama === undefined) {
    // build "never": a missing prebuilt binary is an error, never a compile at run time.
    llama = getLlama({ build: "never", gpu, logLevel: LlamaLogLevel.error, progressLogs: false });
    llama.catch(() => shared.delete(key));
    shared.set(key, llama);
  }
  return llama;
}
