/**
 * lockstep/testing: model-based tests of sequences. Every failure path of a sequence runs through the real
 * embedded runtime with scripted task outcomes and simulated time, and lockstep's invariants are checked.
 * `describeSequencePaths` declares vitest tests (vitest is an optional peer dependency); `testSequence` needs
 * no test framework. `checkHistory` checks whole run histories (a store's, a history topic's) against the same promises.
 * @packageDocumentation
 */

export type { Coverage, Ratio } from '../core/paths/coverage.js';
export type { Expectation } from '../core/paths/expectation.js';
export type { ExecutionEvent, Invariant, Violation } from '../core/paths/invariants.js';
export type { ModelPath, PathStep } from '../core/paths/path-graph.js';
export type { PathAssertion, SequencePathsOptions } from './describe-sequence-paths.js';
export { describeSequencePaths } from './describe-sequence-paths.js';
export type {
  DispatchSeen,
  HistoryCheckOptions,
  HistoryReport,
  HistoryViolation,
  RunHistory,
  TaskExecution,
  ViolationKind,
} from './history-checker.js';
export { checkHistory } from './history-checker.js';
export type { PathRun } from './path-runner.js';
export type { RunPathOptions } from './path-session.js';
export type { PathPlan, PlanOptions, SequenceTestReport, TestSequenceOptions } from './test-sequence.js';
export { testSequence } from './test-sequence.js';
