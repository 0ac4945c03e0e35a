import type { BackoffPolicy } from '../sequence/types.js';

/** FNV-1a: a small, stable hash so that jitter is deterministic for a given idempotency key. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Delay before the retry that follows failed attempt number `failures` (1-based).
 * Jitter subtracts up to `jitter` of the delay, derived from `seed` so replays agree.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, seed: string): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, failures - 1));
  if (policy.jitter <= 0) return Math.round(base);
  const unit = hash32(seed) / 0x1_0000_0000;
  return Math.round(base * (1 - policy.jitter * unit));
}
