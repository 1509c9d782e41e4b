// Parsers for command-line option values: a bad value is a clear error naming the flag.
import { InvalidArgumentError } from "commander";

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

/** A busy threshold: a positive number, or "off" (also "Infinity") for none. */
export function busyThreshold(value: string): number {
  if (value === "off" || value === "Infinity") return Infinity;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number or "off"');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a non-negative number");
  return n;
}

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of: ${choices.join(", ")}`);
    }
    return value as T;
  };
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** A size in bytes: a number with an optional unit (512MiB, 64GiB, 1.5TB, 1e9). */
export function byteSize(value: string): number {
  const m = /^\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = BYTE_UNITS[(m?.[2] ?? "").toLowerCase()];
  const n = m !== null && unit !== undefined ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a size in bytes, e.g. 64GiB, 512MiB, 1e9");
  return Math.floor(n);
}
