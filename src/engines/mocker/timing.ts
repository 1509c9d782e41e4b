// How long a step takes. The default is Dynamo's published fit for one H100-class engine:
//   prefill(t) = 4.209989e-7·t² + 1.518344e-2·t + 16.50142   (t: new tokens in the batch)
//   decode(u)  = −25.74·u² + 54.01·u + 5.74                   (u: fraction of KV blocks in use)
// A step costs prefill(t) when it computes prefill tokens, plus decode(u) when it also
// decodes: Dynamo's mocker adds the two (a mixed batch pays for both), and so do we.

/** The work of one step, as the timing model sees it. */
export interface StepShape {
  /** Tokens computed for prompts (or recomputed after preemption) in this step. */
  numPrefillTokens: number;
  /** Sequences that compute exactly one token (decode) in this step. */
  numDecodeSeqs: number;
  /** Fraction of KV blocks in use (held by sequences) during the step, 0..1. */
  kvUsage: number;
}

export interface TimingModel {
  /** Milliseconds to prefill `numTokens` new tokens in one batch. */
  prefillMs(numTokens: number): number;
  /** Milliseconds of one decode step at KV usage `kvUsage` with `numSeqs` sequences. */
  decodeMs(kvUsage: number, numSeqs: number): number;
}

/** Coefficients [c0, c1, c2] of c0 + c1·x + c2·x². */
export type Quadratic = readonly [number, number, number];

export const DYNAMO_H100_PREFILL: Quadratic = [16.50142, 1.518344e-2, 4.209989e-7];
export const DYNAMO_H100_DECODE: Quadratic = [5.74, 54.01, -25.74];

/** Quadratic fits of prefill time over tokens and decode time over KV usage. */
export class PolynomialTimingModel implements TimingModel {
  private readonly p: Quadratic;
  private readonly d: Quadratic;

  constructor(options: { prefill?: Quadratic; decode?: Quadratic } = {}) {
    this.p = options.prefill ?? DYNAMO_H100_PREFILL;
    this.d = options.decode ?? DYNAMO_H100_DECODE;
  }

  prefillMs(numTokens: number): number {
    const t = numTokens;
    return Math.max(0, this.p[0] + this.p[1] * t + this.p[2] * t * t);
  }

  decodeMs(kvUsage: number): number {
    const u = kvUsage;
    return Math.max(0, this.d[0] + this.d[1] * u + this.d[2] * u * u);
  }
}

/** A measured profile: points of prefill time over tokens and decode time over KV usage. */
export interface TimingTable {
  prefill: { tokens: readonly number[]; ms: readonly number[] };
  decode: { kvUsage: readonly number[]; ms: readonly number[] };
}

/**
 * Piecewise-linear interpolation over a measured table; outside the table the end segments
 * are extended (never below 0 ms), so a profile measured up to 8k tokens still answers 16k.
 */
export class TableTimingModel implements TimingModel {
  private readonly px: Float64Array;
  private readonly py: Float64Array;
  private readonly dx: Float64Array;
  private readonly dy: Float64Array;

  constructor(table: TimingTable) {
    [this.px, this.py] = sortedPoints("prefill", table.prefill.tokens, table.prefill.ms);
    [this.dx, this.dy] = sortedPoints("decode", table.decode.kvUsage, table.decode.ms);
  }

  prefillMs(numTokens: number): number {
    return interpolate(this.px, this.py, numTokens);
  }

  decodeMs(kvUsage: number): number {
    return interpolate(this.dx, this.dy, kvUsage);
  }
}

/** The step's duration: prefill time if it prefills, plus decode time if it decodes. */
export function stepDurationMs(model: TimingModel, step: StepShape): number {
  let ms = 0;
  if (step.numPrefillTokens > 0) ms += model.prefillMs(step.numPrefillTokens);
  if (step.numDecodeSeqs > 0) ms += model.decodeMs(step.kvUsage, step.numDecodeSeqs);
  return ms;
}

function sortedPoints(name: string, xs: readonly number[], ys: readonly number[]): [Float64Array, Float64Array] {
  if (xs.length !== ys.length || xs.length === 0) {
    throw new RangeError(`timing table ${name}: needs as many x as y values, at least one`);
  }
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const x = new Float64Array(order.map((i) => xs[i]!));
  const y = new Float64Array(order.map((i) => ys[i]!));
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!)) throw new RangeError(`timing table ${name}: non-finite value`);
    if (i > 0 && x[i] === x[i - 1]) throw new RangeError(`timing table ${name}: duplicate x ${x[i]}`);
  }
  return [x, y];
}

function interpolate(x: Float64Array, y: Float64Array, v: number): number {
  const n = x.length;
  if (n === 1) return Math.max(0, y[0]!);
  // Segment i covers [x[i], x[i+1]]; the end segments extend outwards.
  let lo = 0;
  let hi = n - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (x[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  const x0 = x[lo]!;
  const x1 = x[lo + 1]!;
  const y0 = y[lo]!;
  const y1 = y[lo + 1]!;
  return Math.max(0, y0 + ((y1 - y0) * (v - x0)) / (x1 - x0));
}
