import { loadSequenceFile } from '../adapters/fs/load-sequence.js';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { ModelPath } from '../core/paths/path-graph.js';
import type { Sequence } from '../core/sequence/types.js';
import type { PathRun } from './path-runner.js';
import { runPath } from './path-runner.js';
import type { RunPathOptions } from './path-session.js';
import type { PlanOptions } from './test-sequence.js';
import { planPaths } from './test-sequence.js';

/**
 * vitest, when it is installed. It is an optional peer dependency: `describeSequencePaths` needs it, while
 * `testSequence` from the same entry runs without it.
 */
const vitest: typeof import('vitest') | undefined = await import('vitest').catch((error: unknown) => {
  if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
  throw error;
});

/** Your own checks on one path, on top of lockstep's invariants. Throw (or use `expect`) to fail the path. */
export type PathAssertion = (path: ModelPath, run: PathRun) => void | Promise<void>;

/** Options of {@link describeSequencePaths}. */
export interface SequencePathsOptions extends PlanOptions, Omit<RunPathOptions, '__unsafe_faults'> {
  /** Title of the `describe` block. @default `paths of <sequence name>` */
  readonly title?: string;
}

/** The text of a failed path: its events, each broken invariant, and how to run it alone. */
function failure(run: PathRun): string {
  return [
    `path ${run.path.id} (${run.path.steps.map((s) => s.label).join(' > ')}) broke ${run.violations.length} invariant(s):`,
    ...run.violations.map((v) => `  ${v.invariant}: ${v.message}`),
    `run it alone with the option { paths: ['${run.path.id}'] }`,
  ].join('\n');
}

/**
 * Declares one vitest test per path of a sequence: every failure path over task outcomes, timeouts and
 * cancellation runs through the real embedded runtime with simulated time, lockstep's invariants are
 * checked, then `assert` runs with the path and its run for your own checks.
 *
 * Call it at the top level of a test file, or inside a `describe`. Paths are enumerated when the file is
 * collected; when there are more than `maxPaths`, a seeded sample that still takes every transition runs.
 *
 * @example
 * import { describeSequencePaths } from 'lockstep/testing';
 *
 * describeSequencePaths('machines/checkout.yaml', (path, run) => {
 *   if (run.outcome !== 'succeeded') expect(run.started.map((t) => t.task)).toContain('audit');
 * });
 */
export function describeSequencePaths(sequence: Sequence | string, assert?: PathAssertion, options: SequencePathsOptions = {}): void {
  if (!vitest) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      'describeSequencePaths declares vitest tests, and vitest is not installed: install it (npm install -D vitest), or call testSequence, which needs no test framework',
    );
  }
  const { describe, expect, it } = vitest;
  const seq = typeof sequence === 'string' ? loadSequenceFile(sequence).sequence : sequence;
  describe(options.title ?? `paths of ${seq.name}`, () => {
    const plan = planPaths(seq, options);
    for (const path of plan.paths) {
      it(`${path.id}: ${path.steps.map((s) => s.label).join(' > ')}`, async () => {
        const run = await runPath(seq, path, options);
        if (!run.passed) expect.fail(failure(run));
        await assert?.(path, run);
      });
    }
  });
}
