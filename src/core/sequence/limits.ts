/**
 * Declared limits on the data a run carries: one task's result (`limits.resultBytes`) and the run's total, its
 * input plus every result (`limits.runBytes`). Sizes are UTF-8 bytes of the JSON text.
 */
export interface DataLimits {
  /** Largest result one attempt may report. @default 1 MiB */
  readonly resultBytes: number;
  /** Largest total of the input and all results of a run. @default 16 MiB */
  readonly runBytes: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/** Default of `limits.resultBytes`: 1 MiB. */
export const DEFAULT_RESULT_BYTES = MIB;
/** Default of `limits.runBytes`: 16 MiB. */
export const DEFAULT_RUN_BYTES = 16 * MIB;
/** The largest size a limit may be set to: 1 GiB (a JavaScript string cannot hold much more). */
export const MAX_LIMIT_BYTES = 1024 * MIB;

/** The defaults, for tasks and sequences that declare no limits. */
export const DEFAULT_LIMITS: DataLimits = { resultBytes: DEFAULT_RESULT_BYTES, runBytes: DEFAULT_RUN_BYTES };

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: KIB,
  mib: MIB,
  gib: 1024 * MIB,
};

/**
 * Parses a size: a whole number of bytes, or a string like `"512KiB"`, `"1MiB"`, `"1.5MB"`, `"4096"`
 * (`KiB`/`MiB`/`GiB` are powers of 1024, `KB`/`MB`/`GB` powers of 1000, `B` bytes; case-insensitive).
 * Returns undefined for anything else, or for a size below 1 byte or above {@link MAX_LIMIT_BYTES}.
 */
export function parseSize(value: unknown): number | undefined {
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = UNITS[(match?.[2] || 'b').toLowerCase()];
    if (!match || unit === undefined) return undefined;
    bytes = Math.round(Number(match[1]) * unit);
  } else return undefined;
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX_LIMIT_BYTES) return undefined;
  return bytes;
}

/** `1234567` -> `"1,234,567"`: sizes in messages, exact and readable. */
export function formatBytes(bytes: number): string {
  return String(bytes).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A size in its unit, for limits in messages: `1048576` -> `1 MiB`, `1500` -> `1500 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1_048_576 && bytes % 1_048_576 === 0) return `${bytes / 1_048_576} MiB`;
  if (bytes >= 1_048_576) return `${(bytes / 1_048_576).toFixed(1)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** The message of a result over `limits.resultBytes`. */
export function resultTooLargeMessage(taskId: string, bytes: number, limit: number, what = 'result'): string {
  return `task "${taskId}": ${what} is ${formatBytes(bytes)} bytes, over limits.resultBytes ${formatBytes(limit)}`;
}

/** The message of a result that would bring the run's data over `limits.runBytes`. */
export function runTooLargeMessage(taskId: string, total: number, limit: number): string {
  return `task "${taskId}": the run's data (input and results) would be ${formatBytes(total)} bytes, over limits.runBytes ${formatBytes(limit)}`;
}

/**
 * A value travels in an environment variable only up to this many UTF-8 bytes (32 KiB), well below Linux's
 * 128 KiB per variable; a larger data value is left out (its file is the way), and a larger `env:` value of a
 * task is a validation error.
 */
export const ENV_VALUE_MAX_BYTES = 32 * KIB;

/**
 * All of a task's own `env:` together, names included: 64 KiB. With lockstep's data variables (at most 256 KiB)
 * and the `run:` command this keeps a spawn far below the kernel's limit on arguments and environment.
 */
export const ENV_TOTAL_MAX_BYTES = 64 * KIB;

/** The longest `run:` command, 64 KiB: it is an argument of `/bin/sh -c`, and one argument may not pass 128 KiB. */
export const RUN_MAX_BYTES = 64 * KIB;

/** UTF-8 bytes of a string, without encoding it. */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
