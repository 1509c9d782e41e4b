// admission: who may send what, how fast, and in what order requests wait for capacity.
// Pure policy on top of protocols (no I/O, time passed in); the frontend does the I/O.
export { PRIORITY_CLASSES, priorityRank, isPriorityClass, TenantDirectory, KeysFileError, hashApiKey, tenantMayUse, effectivePriority } from "./tenant.ts";
export type { PriorityClass, Tenant, TenantLimits, KeyLookup } from "./tenant.ts";
export { perMinute, refill, fullBucket, msUntil, msUntilFull } from "./token-bucket.ts";
export type { BucketLimit, BucketState } from "./token-bucket.ts";
export { MemoryBucketStore } from "./bucket-store.ts";
export type { BucketStore } from "./bucket-store.ts";
export { RateLimiter, isThrottle } from "./rate-limiter.ts";
export type { AdmissionCost, LimitName, RateLease, RateLimitStatus, Throttle } from "./rate-limiter.ts";
export { AdmissionQueue } from "./admission-queue.ts";
export type { AdmissionQueueOptions, PushResult, QueueItem, QueueTicket } from "./admission-queue.ts";
