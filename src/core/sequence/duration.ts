const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * The longest duration a sequence may declare (timeouts, backoffs): 365 days. Timers of any length up to it
 * fire at their due time; a longer one is a validation error.
 */
export const MAX_DURATION_MS = 365 * UNIT_MS.d;
/** {@link MAX_DURATION_MS} as written in a definition. */
export const MAX_DURATION_TEXT = '365d';

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `2h` or `1d` into milliseconds.
 * A bare non-negative number is taken as milliseconds.
 * Returns `undefined` when the value is not a duration.
 *
 * @example parseDuration('1.5s') // 1500
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  return Math.round(amount * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** Formats milliseconds for people: `850ms`, `1.2s`, `3m 05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}
