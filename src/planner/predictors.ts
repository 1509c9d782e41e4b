// One-step-ahead forecasters of a scalar series sampled once per adjustment interval (request
// rate, mean prompt length, mean output length). The SLA planner sizes the fleet for the
// forecast, so a predictor that lags a ramp under-provisions it: the seasonal and Kalman ones
// follow trends, the constant and moving-average ones are the simple baselines.

export const PREDICTOR_NAMES = ["constant", "moving-average", "holt-winters", "kalman"] as const;
export type PredictorName = (typeof PREDICTOR_NAMES)[number];

export interface Predictor {
  readonly name: PredictorName;
  /** Feeds the value observed over the interval that just ended. */
  observe(value: number): void;
  /** The forecast `steps` intervals ahead (default 1: the next one; 0 before any observation). */
  predict(steps?: number): number;
}

export interface PredictorOptions {
  /** moving-average: intervals averaged. Default 5. */
  window?: number;
  /** holt-winters: intervals per season (a day at 30 s intervals is 2880). Default 24. */
  seasonLength?: number;
  /** holt-winters smoothing of level, trend and season. Defaults 0.5, 0.2, 0.3. */
  alpha?: number;
  beta?: number;
  gamma?: number;
  /** kalman: process noise of level and trend, relative to measurement noise. Defaults 0.5, 0.05. */
  levelNoise?: number;
  trendNoise?: number;
}

/** Tomorrow is like today: the last observation. */
export class ConstantPredictor implements Predictor {
  readonly name = "constant";
  private last = 0;

  observe(value: number): void {
    this.last = value;
  }

  predict(): number {
    return this.last;
  }
}

/** Mean of the last `window` observations. */
export class MovingAveragePredictor implements Predictor {
  readonly name = "moving-average";
  private readonly values: number[] = [];
  private sum = 0;

  constructor(private readonly window = 5) {
    if (!(Number.isInteger(window) && window > 0)) throw new RangeError(`moving-average window must be a positive integer, got ${window}`);
  }

  observe(value: number): void {
    this.values.push(value);
    this.sum += value;
    if (this.values.length > this.window) this.sum -= this.values.shift()!;
  }

  predict(): number {
    return this.values.length === 0 ? 0 : this.sum / this.values.length;
  }
}

/**
 * Additive Holt-Winters: level, trend and a season of `seasonLength` intervals. Until two
 * seasons have been seen it is Holt's linear method; then level, trend and season are
 * initialized from those two (see initSeason).
 */
export class HoltWintersPredictor implements Predictor {
  readonly name = "holt-winters";
  private readonly m: number;
  private readonly alpha: number;
  private readonly beta: number;
  private readonly gamma: number;
  private level = 0;
  private trend = 0;
  private season: Float64Array | null = null;
  private readonly first: number[] = [];
  private n = 0;

  constructor(options: PredictorOptions = {}) {
    this.m = options.seasonLength ?? 24;
    if (!(Number.isInteger(this.m) && this.m >= 2)) throw new RangeError(`seasonLength must be an integer >= 2, got ${this.m}`);
    this.alpha = options.alpha ?? 0.5;
    this.beta = options.beta ?? 0.2;
    this.gamma = options.gamma ?? 0.3;
  }

  observe(x: number): void {
    const i = this.n++;
    if (i === 0) {
      this.level = x;
      this.first.push(x);
      return;
    }
    if (this.season === null) {
      const prev = this.level;
      this.level = this.alpha * x + (1 - this.alpha) * (prev + this.trend);
      this.trend = this.beta * (this.level - prev) + (1 - this.beta) * this.trend;
      this.first.push(x);
      if (this.first.length === 2 * this.m) this.initSeason();
      return;
    }
    const k = i % this.m;
    const s = this.season[k]!;
    const prev = this.level;
    this.level = this.alpha * (x - s) + (1 - this.alpha) * (prev + this.trend);
    this.trend = this.beta * (this.level - prev) + (1 - this.beta) * this.trend;
    this.season[k] = this.gamma * (x - this.level) + (1 - this.gamma) * s;
  }

  predict(steps = 1): number {
    if (this.n === 0) return 0;
    const base = this.level + steps * this.trend;
    return this.season === null ? base : base + this.season[(this.n + steps - 1) % this.m]!;
  }

  /**
   * From the first two seasons: the trend from the change of their means, the season from
   * what that line leaves (averaged over both), so a ramp is a trend and a wave a season.
   */
  private initSeason(): void {
    const m = this.m;
    const xs = this.first;
    let mean1 = 0;
    let mean2 = 0;
    for (let i = 0; i < m; i++) {
      mean1 += xs[i]! / m;
      mean2 += xs[i + m]! / m;
    }
    const slope = (mean2 - mean1) / m;
    const line = (i: number): number => mean1 + slope * (i - (m - 1) / 2);
    const season = new Float64Array(m);
    for (let i = 0; i < m; i++) season[i] = (xs[i]! - line(i) + xs[i + m]! - line(i + m)) / 2;
    this.season = season;
    this.level = line(2 * m - 1);
    this.trend = slope;
  }
}

/**
 * A Kalman filter on a local linear trend (state: level and trend; the level is measured with
 * noise). The gains depend only on the noise ratios, so the filter is scale-free.
 */
export class KalmanPredictor implements Predictor {
  readonly name = "kalman";
  private level = 0;
  private trend = 0;
  // Covariance [[p00, p01], [p01, p11]], measurement noise 1.
  private p00 = 1e6;
  private p01 = 0;
  private p11 = 1e6;
  private n = 0;
  private readonly qLevel: number;
  private readonly qTrend: number;

  constructor(options: PredictorOptions = {}) {
    this.qLevel = options.levelNoise ?? 0.5;
    this.qTrend = options.trendNoise ?? 0.05;
  }

  observe(x: number): void {
    if (this.n++ === 0) {
      this.level = x;
      return;
    }
    // Predict: level += trend.
    const l = this.level + this.trend;
    const a = this.p00 + 2 * this.p01 + this.p11 + this.qLevel;
    const b = this.p01 + this.p11;
    const c = this.p11 + this.qTrend;
    // Update with the measured level.
    const s = a + 1;
    const k0 = a / s;
    const k1 = b / s;
    const r = x - l;
    this.level = l + k0 * r;
    this.trend += k1 * r;
    this.p00 = (1 - k0) * a;
    this.p01 = (1 - k0) * b;
    this.p11 = c - k1 * b;
  }

  predict(steps = 1): number {
    return this.n === 0 ? 0 : this.level + steps * this.trend;
  }
}

export function createPredictor(name: PredictorName, options: PredictorOptions = {}): Predictor {
  switch (name) {
    case "constant":
      return new ConstantPredictor();
    case "moving-average":
      return new MovingAveragePredictor(options.window);
    case "holt-winters":
      return new HoltWintersPredictor(options);
    case "kalman":
      return new KalmanPredictor(options);
  }
}
