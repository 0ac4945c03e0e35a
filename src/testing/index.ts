/**
 * lockstep/testing: model-based tests of sequences. Every failure path of a sequence runs through the real
 * embedded runtime with scripted task outcomes and simulated time, and lockstep's invariants are checked.
 * @packageDocumentation
 */
export { describeSequencePaths } from './describe-sequence-paths.js';
export type { PathAssertion, SequencePathsOptions } from './describe-sequence-paths.js';
export { planPaths, testSequence } from './test-sequence.js';
export type { PathPlan, PlanOptions, SequenceTestReport, TestSequenceOptions } from './test-sequence.js';
export { runPath } from './path-runner.js';
export type { Faults, PathRun, RunPathOptions } from './path-runner.js';
export type { ModelPath, PathStep } from '../core/paths/path-graph.js';
export { StepToken } from '../core/paths/run-model.js';
export type { Expectation } from '../core/paths/expectation.js';
export { Invariant } from '../core/paths/invariants.js';
export type { Violation, ExecutionEvent } from '../core/paths/invariants.js';
export type { Coverage, Ratio } from '../core/paths/coverage.js';
