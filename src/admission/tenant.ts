// Tenants and their API keys, parsed from the keys file's text. Keys are stored as SHA-256
// digests only: the file never holds a usable key, and a lookup hashes what the client sent.
import { createHash } from "node:crypto";

/** Priority classes, highest first. A queue serves every request of a class before the next. */
export const PRIORITY_CLASSES = ["high", "normal", "low"] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

/** 0 for the highest class. */
export function priorityRank(p: PriorityClass): number {
  return PRIORITY_CLASSES.indexOf(p);
}

export function isPriorityClass(v: unknown): v is PriorityClass {
  return typeof v === "string" && (PRIORITY_CLASSES as readonly string[]).includes(v);
}

/** Per-tenant limits; an absent limit is no limit. */
export interface TenantLimits {
  requestsPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
  concurrentRequests?: number;
}

export interface Tenant {
  readonly name: string;
  /** The highest class its requests may ask for, and the class they get by default. */
  readonly priority: PriorityClass;
  /** Share of served tokens under contention, relative to other tenants of its class (default 1). */
  readonly weight: number;
  readonly limits: Readonly<TenantLimits>;
  /** Models it may use; null: every model. */
  readonly models: ReadonlySet<string> | null;
}

/** What a presented key resolves to. */
export type KeyLookup = { kind: "tenant"; tenant: Tenant } | { kind: "revoked"; tenant: Tenant } | { kind: "unknown" };

export class KeysFileError extends Error {
  override readonly name = "KeysFileError";
}

/** SHA-256 of a key as lower-case hex: the form the keys file stores. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The tenants of one version of the keys file, indexed by key digest. */
export class TenantDirectory {
  private constructor(
    readonly tenants: readonly Tenant[],
    private readonly byDigest: ReadonlyMap<string, { tenant: Tenant; revoked: boolean }>,
  ) {}

  /** Parses the keys file (JSON, format in docs/deploy.md); throws KeysFileError naming the field. */
  static parse(text: string): TenantDirectory {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new KeysFileError(`keys file is not valid JSON: ${(e as Error).message}`);
    }
    const list = (doc as { tenants?: unknown })?.tenants;
    if (!Array.isArray(list)) throw new KeysFileError("keys file needs a 'tenants' array");
    const tenants: Tenant[] = [];
    const byDigest = new Map<string, { tenant: Tenant; revoked: boolean }>();
    const names = new Set<string>();
    list.forEach((raw: unknown, i) => {
      const at = `tenants[${i}]`;
      const t = raw as Record<string, unknown>;
      if (!t || typeof t !== "object") throw new KeysFileError(`${at} is not an object`);
      if (typeof t["name"] !== "string" || t["name"].length === 0) throw new KeysFileError(`${at}.name must be a non-empty string`);
      const name = t["name"];
      if (names.has(name)) throw new KeysFileError(`${at}.name '${name}' is used twice`);
      names.add(name);
      const priority = t["priority"] ?? "normal";
      if (!isPriorityClass(priority)) throw new KeysFileError(`${at}.priority must be one of ${PRIORITY_CLASSES.join(", ")}`);
      const weight = t["weight"] ?? 1;
      if (typeof weight !== "number" || !(weight > 0)) throw new KeysFileError(`${at}.weight must be a positive number`);
      const limits = parseLimits(t["limits"] ?? {}, `${at}.limits`);
      const models = t["models"];
      let allowed: Set<string> | null = null;
      if (models !== undefined && !(Array.isArray(models) && models.includes("*"))) {
        if (!Array.isArray(models) || !models.every((m) => typeof m === "string")) throw new KeysFileError(`${at}.models must be an array of model names`);
        allowed = new Set(models as string[]);
      }
      const tenant: Tenant = { name, priority, weight, limits, models: allowed };
      tenants.push(tenant);
      const keys = t["keys"];
      if (!Array.isArray(keys)) throw new KeysFileError(`${at}.keys must be an array`);
      keys.forEach((k: unknown, j) => {
        const { digest, revoked } = parseKey(k, `${at}.keys[${j}]`);
        if (byDigest.has(digest)) throw new KeysFileError(`${at}.keys[${j}] is listed twice`);
        byDigest.set(digest, { tenant, revoked });
      });
    });
    return new TenantDirectory(tenants, byDigest);
  }

  /** Resolves a key as presented by a client. */
  lookup(key: string): KeyLookup {
    const hit = this.byDigest.get(hashApiKey(key));
    if (!hit) return { kind: "unknown" };
    return hit.revoked ? { kind: "revoked", tenant: hit.tenant } : { kind: "tenant", tenant: hit.tenant };
  }

  get numKeys(): number {
    return this.byDigest.size;
  }
}

/** May this tenant use this model? */
export function tenantMayUse(tenant: Tenant, model: string): boolean {
  return tenant.models === null || tenant.models.has(model);
}

/**
 * The class a request runs in: what it asked for, capped at its tenant's class (a tenant can
 * lower its own requests, never raise them above its allowance).
 */
export function effectivePriority(tenant: Tenant, asked: PriorityClass | undefined): PriorityClass {
  if (asked === undefined) return tenant.priority;
  return priorityRank(asked) < priorityRank(tenant.priority) ? tenant.priority : asked;
}

const LIMIT_FIELDS = ["requestsPerMinute", "inputTokensPerMinute", "outputTokensPerMinute", "concurrentRequests"] as const;

function parseLimits(raw: unknown, at: string): TenantLimits {
  if (!raw || typeof raw !== "object") throw new KeysFileError(`${at} must be an object`);
  const out: TenantLimits = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(LIMIT_FIELDS as readonly string[]).includes(k)) throw new KeysFileError(`${at}.${k} is not a known limit (${LIMIT_FIELDS.join(", ")})`);
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new KeysFileError(`${at}.${k} must be a positive number`);
    out[k as (typeof LIMIT_FIELDS)[number]] = v;
  }
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;

function parseKey(raw: unknown, at: string): { digest: string; revoked: boolean } {
  if (typeof raw === "string") {
    if (!raw.startsWith("sha256:") || !HEX64.test(raw.slice(7))) throw new KeysFileError(`${at} must be 'sha256:<64 hex digits>' (keys are stored hashed)`);
    return { digest: raw.slice(7), revoked: false };
  }
  const k = raw as { sha256?: unknown; revoked?: unknown };
  if (!k || typeof k !== "object" || typeof k.sha256 !== "string" || !HEX64.test(k.sha256)) {
    throw new KeysFileError(`${at} must be 'sha256:<hex>' or { "sha256": "<hex>", "revoked"?: true }`);
  }
  if (k.revoked !== undefined && typeof k.revoked !== "boolean") throw new KeysFileError(`${at}.revoked must be a boolean`);
  return { digest: k.sha256, revoked: k.revoked === true };
}
