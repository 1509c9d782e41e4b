// planner: how many workers each pool should have. Pure policy on top of protocols (no I/O,
// time passed in), so `turbine replay` runs it in simulated time; connectors carry it out.
export { POOL_NAMES } from "./planner-types.ts";
export type { PoolName, PoolObservation, PlannerInputs, PredictedLoad, PoolDecision, PlannerDecision, PoolBounds, Planner } from "./planner-types.ts";
export { PREDICTOR_NAMES, ConstantPredictor, MovingAveragePredictor, HoltWintersPredictor, KalmanPredictor, createPredictor } from "./predictors.ts";
export type { Predictor, PredictorName, PredictorOptions } from "./predictors.ts";
export { WORKER_PROFILE_FORMAT, parseWorkerProfile, ProfileModel } from "./worker-profile.ts";
export type { WorkerProfile } from "./worker-profile.ts";
export { estimatePrefill, estimateDecode, estimateAggregated } from "./sla-model.ts";
export type { LoadShape, PoolEstimate } from "./sla-model.ts";
export { BoundsGuard, boundedReason } from "./pool-bounds.ts";
export { SlaPlanner } from "./sla-planner.ts";
export type { SlaPlannerOptions } from "./sla-planner.ts";
export { LoadPlanner } from "./load-planner.ts";
export type { LoadPlannerOptions } from "./load-planner.ts";
export { ObservationWindow } from "./observation-window.ts";
export type { RequestTotals, LoadSample } from "./observation-window.ts";
export { VirtualConnector } from "./connector.ts";
export type { Connector, ScalingRecord } from "./connector.ts";
export { parsePrometheusText, sumSamples } from "./prometheus-text.ts";
export type { PromSample } from "./prometheus-text.ts";
