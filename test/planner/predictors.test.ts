import { test } from "node:test";
import assert from "node:assert/strict";
import { createPredictor, PREDICTOR_NAMES } from "../../src/planner/index.ts";
import type { PredictorName } from "../../src/planner/index.ts";

const N = 120;
const step = (t: number): number => (t < 60 ? 10 : 30);
const ramp = (t: number): number => 5 + 2 * t;
const PERIOD = 24;
const sine = (t: number): number => 50 + 20 * Math.sin((2 * Math.PI * t) / PERIOD);

/** Mean absolute one-step-ahead error over [from, N). */
function meanError(name: PredictorName, series: (t: number) => number, from: number): number {
  const p = createPredictor(name, { seasonLength: PERIOD });
  let sum = 0;
  let count = 0;
  for (let t = 0; t < N; t++) {
    if (t >= from) {
      sum += Math.abs(p.predict() - series(t));
      count++;
    }
    p.observe(series(t));
  }
  return sum / count;
}

// Bounds per predictor and series (mean absolute error after warm-up). The constant one lags a
// ramp by one slope; the moving average by (window + 1)/2 slopes; the trend-following ones track it.
const BOUNDS: Record<PredictorName, { step: number; ramp: number; sine: number }> = {
  constant: { step: 0.01, ramp: 2.01, sine: 4 },
  "moving-average": { step: 0.01, ramp: 6.01, sine: 10 },
  "holt-winters": { step: 3, ramp: 0.1, sine: 0.1 },
  kalman: { step: 0.5, ramp: 0.1, sine: 6 },
};

for (const name of PREDICTOR_NAMES) {
  test(`planner - ${name} predictor: step, ramp and sinusoid errors stay bounded`, () => {
    const b = BOUNDS[name];
    // Step (10 → 30 at t = 60): the largest error once settled, 30 intervals after it, and before it.
    const p = createPredictor(name, { seasonLength: PERIOD });
    let settledErr = 0;
    for (let t = 0; t < N; t++) {
      if (t >= 90 || (t >= 20 && t < 60)) settledErr = Math.max(settledErr, Math.abs(p.predict() - step(t)));
      p.observe(step(t));
    }
    assert.ok(settledErr <= b.step, `${name} step: max settled error ${settledErr}`);
    const r = meanError(name, ramp, 30);
    assert.ok(r <= b.ramp, `${name} ramp: mean error ${r}`);
    const s = meanError(name, sine, 3 * PERIOD);
    assert.ok(s <= b.sine, `${name} sinusoid: mean error ${s}`);
  });
}

test("planner - the seasonal predictor beats the others on a sinusoid", () => {
  const hw = meanError("holt-winters", sine, 3 * PERIOD);
  for (const other of ["constant", "moving-average", "kalman"] as const) assert.ok(hw < meanError(other, sine, 3 * PERIOD), other);
});

test("planner - predictors forecast 0 before any observation", () => {
  for (const name of PREDICTOR_NAMES) assert.equal(createPredictor(name).predict(), 0);
});
