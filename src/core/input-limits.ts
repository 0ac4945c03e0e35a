import { ErrorCode, LockstepError } from './errors.js';
import { MAX_NESTING_DEPTH, nestingProblem } from './nesting.js';
import { formatSize, utf8Bytes } from './sequence/limits.js';
import type { Problem } from './sequence/problems.js';
import { formatPath } from './sequence/problems.js';

/**
 * Largest run input lockstep accepts, in bytes of its compact JSON (UTF-8): 1 MiB. An input travels with every
 * dispatch and is stored with the run, so it stays well below a run's total data limit (`limits.runBytes`) and
 * leaves room for the results. Larger data belongs in a file or a store the tasks read.
 */
export const MAX_INPUT_BYTES = 1_048_576;

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
  const bytes = json === undefined ? 0 : utf8Bytes(json);
  if (bytes > MAX_INPUT_BYTES) {
    return [{ path: formatPath(root), message: `${bytes} bytes as JSON, more than the ${formatSize(MAX_INPUT_BYTES)} an input may have` }];
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
