import { ErrorCode, LockstepError } from './errors.js';
import { MAX_NESTING_DEPTH, nestingProblem } from './nesting.js';
import type { Problem } from './sequence/problems.js';
import { formatPath } from './sequence/problems.js';

/**
 * Largest run input lockstep accepts, in bytes of its compact JSON (UTF-8): 1 MiB. An input travels with every
 * dispatch and is stored with the run, so it stays well below a run's total data limit (`limits.runBytes`) and
 * leaves room for the results. Larger data belongs in a file or a store the tasks read.
 */
export const MAX_INPUT_BYTES = 1_048_576;

/** Length in bytes of a string encoded as UTF-8 (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8Length(text: string): number {
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

/** `1048576` -> `1 MiB`, `1500` -> `1500 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1_048_576 && bytes % 1_048_576 === 0) return `${bytes / 1_048_576} MiB`;
  if (bytes >= 1_048_576) return `${(bytes / 1_048_576).toFixed(1)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * Checks that a run input can be stored and passed to every task: JSON nested at most
 * {@link MAX_NESTING_DEPTH} levels, at most {@link MAX_INPUT_BYTES} as compact JSON. Paths start at `input`.
 *
 * @returns every problem; empty when the input is accepted.
 */
export function inputProblems(input: unknown, root: readonly PropertyKey[] = ['input']): Problem[] {
  const nested = nestingProblem(input, MAX_NESTING_DEPTH, root);
  if (nested) return [nested];
  let json: string | undefined;
  try {
    json = JSON.stringify(input);
  } catch (error) {
    return [{ path: formatPath(root), message: `cannot be encoded as JSON: ${(error as Error).message}` }];
  }
  const bytes = json === undefined ? 0 : utf8Length(json);
  if (bytes > MAX_INPUT_BYTES) {
    return [{ path: formatPath(root), message: `${bytes} bytes as JSON, more than the ${formatBytes(MAX_INPUT_BYTES)} an input may have` }];
  }
  return [];
}

/**
 * Refuses a run input that could not be stored or passed, before a run is asked for: every way to start a run
 * (CLI, HTTP, the embedded runtime, the Kafka client) checks it, so no run is acknowledged that cannot exist.
 *
 * @throws LockstepError `INVALID_USAGE` naming the problem.
 */
export function assertInput(input: unknown): void {
  const problems = inputProblems(input);
  if (problems.length > 0) throw new LockstepError(ErrorCode.invalidUsage, problems.map((p) => `${p.path}: ${p.message}`).join('; '));
}
