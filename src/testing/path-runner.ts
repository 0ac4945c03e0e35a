import type { Outcome } from '../core/compile/types.js';
import type { Expectation } from '../core/paths/expectation.js';
import { expectOutcome } from '../core/paths/expectation.js';
import type { ExecutionEvent, Violation } from '../core/paths/invariants.js';
import { checkRun, Invariant } from '../core/paths/invariants.js';
import type { ModelPath } from '../core/paths/path-graph.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import { isFinalEntry } from '../core/protocol/run-entry.js';
import type { Phase, Sequence } from '../core/sequence/types.js';
import type { RunPathOptions, SessionResult } from './path-session.js';
import { PathSession } from './path-session.js';

/** One path run through the embedded runtime, and what the invariants found. */
export interface PathRun {
  readonly path: ModelPath;
  readonly expected: Expectation;
  /** How the run ended; `undefined` if it never did. */
  readonly outcome: Outcome | undefined;
  /** The run's history, as the orchestrator recorded it. */
  readonly entries: readonly RunEntry[];
  /** Every attempt the orchestrator started, in order. */
  readonly started: ReadonlyArray<{ readonly task: string; readonly attempt: number; readonly phase: Phase }>;
  /** What the task executor saw. */
  readonly executions: readonly ExecutionEvent[];
  /** The duplicate and late events injected, in words. */
  readonly injected: readonly string[];
  readonly violations: readonly Violation[];
  readonly passed: boolean;
  /** True when the runtime left the path and the run was given up before its end. */
  readonly abandoned: boolean;
}

/** Checks the invariants of one path on what a closed session saw. */
export function judgePath(sequence: Sequence, path: ModelPath, seen: SessionResult): PathRun {
  const expected = expectOutcome(sequence, path.steps);
  const { entries, executions, abandoned } = seen;
  const violations = [...seen.violations];
  for (const v of checkRun(sequence, path, expected, { entries, executions, abandoned })) {
    if (v.invariant === Invariant.followsPath && abandoned) continue; // already reported, at the step that could not be taken
    violations.push(v);
  }
  const final = entries.find(isFinalEntry);
  return {
    path,
    expected,
    outcome: final?.outcome,
    entries,
    started: seen.started,
    executions,
    injected: seen.injected,
    violations,
    passed: violations.length === 0,
    abandoned,
  };
}

/**
 * Runs one path through the real embedded runtime: the orchestrator, worker, timers and in-memory transport,
 * with task outcomes scripted by the path and time simulated. Checks every invariant on the run.
 */
export async function runPath(sequence: Sequence, path: ModelPath, options: RunPathOptions = {}): Promise<PathRun> {
  const session = await PathSession.open(sequence, options);
  let seen: SessionResult;
  try {
    for (const [i, step] of path.steps.entries()) {
      await session.step(i, step);
      if (session.over) break;
    }
  } finally {
    seen = await session.close();
  }
  return judgePath(sequence, path, seen);
}
