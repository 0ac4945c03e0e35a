import { fnv1a32 } from '../hash.js';
import type { BackoffPolicy } from '../sequence/types.js';

/**
 * Delay before the retry that follows failed attempt number `failures` (1-based).
 * Jitter subtracts up to `jitter` of the delay, derived from `seed` so replays agree.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, seed: string): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, failures - 1));
  if (policy.jitter <= 0) return Math.round(base);
  const unit = fnv1a32(seed) / 0x1_0000_0000;
  return Math.round(base * (1 - policy.jitter * unit));
}
