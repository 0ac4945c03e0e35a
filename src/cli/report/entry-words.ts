import type { RunEntry } from '../../core/protocol/run-entry.js';

/**
 * How a stopped attempt ended, in words, for `lockstep run` and `lockstep show`: `ended (it reported ...)`,
 * `was lost with its process`, or `did not end within its stop grace; ...`.
 */
export function stopWords(e: Extract<RunEntry, { type: 'task.stopped' }>): string {
  if (e.how === 'grace-expired') return 'did not end within its stop grace; the run went on without it';
  if (e.how === 'interrupted') return 'was lost with its process';
  return `ended (it reported ${e.error ? `a failure: ${e.error.message}` : 'a success, which changes nothing'})`;
}
