import { ErrorCode, LockstepError } from '../core/errors.js';
import type { Coverage } from '../core/paths/coverage.js';
import { coverageOf } from '../core/paths/coverage.js';
import type { ModelPath, PathGraph } from '../core/paths/path-graph.js';
import { buildPathGraph } from '../core/paths/path-graph.js';
import { createRunModel } from '../core/paths/run-model.js';
import type { Sequence } from '../core/sequence/types.js';
import type { PathRun } from './path-runner.js';
import type { RunPathOptions } from './path-session.js';
import { runPaths } from './path-trie.js';
import type { WaitCases } from './wait-cases.js';
import { waitCases } from './wait-cases.js';

/**
 * Most main tasks, and most finally tasks, of a sequence that path testing takes on. The paths needed to take every
 * transition grow with the number of tasks, and so does each path: the time grows with its square.
 */
export const MAX_PATH_TEST_TASKS = 1000;

/** Which paths to run. */
export interface PlanOptions {
  /**
   * Most paths to run. When the sequence has more, a seeded sample runs instead; it still takes every
   * reachable transition at least once, even if that needs more paths. @default 500
   */
  readonly maxPaths?: number;
  /** Seed of the sample. The same seed picks the same paths. @default 1 */
  readonly seed?: string | number;
  /** Run only these paths (ids as printed by `lockstep test`), e.g. to replay a failure. */
  readonly paths?: readonly string[];
}

/** The paths chosen for a sequence, before running them. */
export interface PathPlan {
  readonly graph: PathGraph;
  readonly paths: readonly ModelPath[];
  /** True when `paths` holds every path of the sequence. */
  readonly exhaustive: boolean;
  /** True when the paths were given by id rather than chosen. */
  readonly given: boolean;
  readonly seed: string | number;
  readonly maxPaths: number;
}

/** Options of {@link testSequence}. */
export interface TestSequenceOptions extends PlanOptions, RunPathOptions {
  /**
   * Runs at once, each on its own runtime and simulated clock. Paths that share a prefix share its run: where they
   * part, the run branches. @default 8
   */
  readonly concurrency?: number;
  /** Called as each path finishes, in completion order. */
  readonly onRun?: (run: PathRun) => void;
}

/** Everything `lockstep test` found for one sequence. */
export interface SequenceTestReport {
  readonly sequence: Sequence;
  readonly plan: PathPlan;
  /** Runs in the order of `plan.paths`. */
  readonly runs: readonly PathRun[];
  readonly failed: readonly PathRun[];
  readonly coverage: Coverage;
  /** For each wait task: how it ended on the paths run, and the signals injected that the run had to ignore. */
  readonly waits: readonly WaitCases[];
  /** Wall time of planning and running, in milliseconds. */
  readonly durationMs: number;
}

/** Enumerates a sequence's paths and picks the ones to run. Synchronous, so that test files can declare one test per path. */
export function planPaths(sequence: Sequence, options: PlanOptions = {}): PathPlan {
  const maxPaths = options.maxPaths ?? 500;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(maxPaths) || maxPaths < 1)
    throw new RangeError(`Expected maxPaths to be an integer from 1 and up, got ${maxPaths}`);
  const { tasks, finally: fin } = sequence;
  if (tasks.length > MAX_PATH_TEST_TASKS || fin.length > MAX_PATH_TEST_TASKS) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `${sequence.name} v${sequence.version} has ${tasks.length} tasks and ${fin.length} finally tasks; path testing handles at most ` +
        `${MAX_PATH_TEST_TASKS} of each: test a smaller sequence, or its parts as sequences of their own`,
    );
  }
  const graph = buildPathGraph(createRunModel(sequence));
  if (options.paths) return { graph, paths: options.paths.map((id) => graph.path(id)), exhaustive: false, given: true, seed, maxPaths };
  const { paths, exhaustive } = graph.select({ maxPaths, seed });
  return { graph, paths, exhaustive, given: false, seed, maxPaths };
}

/**
 * Model-based test of a sequence: enumerates its paths over outcome events (success, failure and timeout of
 * each attempt, cancellation, the run timeout), runs each through the real embedded runtime with scripted
 * outcomes and simulated time, and checks every invariant on each run.
 */
export async function testSequence(sequence: Sequence, options: TestSequenceOptions = {}): Promise<SequenceTestReport> {
  const t0 = performance.now();
  const plan = planPaths(sequence, options);
  const runs = await runPaths(sequence, plan.paths, options);
  return {
    sequence,
    plan,
    runs,
    failed: runs.filter((r) => !r.passed),
    coverage: coverageOf(plan.graph, plan.paths),
    waits: waitCases(sequence, runs),
    durationMs: performance.now() - t0,
  };
}
