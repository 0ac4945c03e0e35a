/**
 * lockstep: run sequences of tasks strictly one after the other, with explicit failure semantics.
 *
 * This entry holds what a sequence needs in one process: the builder, validation, the embedded runtime and
 * the errors. It loads neither Kafka nor SQLite: those are `lockstep/kafka` and `lockstep/sqlite`, and
 * model-based testing is `lockstep/testing`.
 * @packageDocumentation
 */

export type { LoadedSequence } from './adapters/fs/load-sequence.js';
export { loadSequenceFile } from './adapters/fs/load-sequence.js';
export type { Outcome, TaskError } from './core/compile/types.js';
// Errors.
export { DefinitionError, ErrorCode, LockstepError, MessageError, TaskFailure } from './core/errors.js';
export type { FinalEntry, RunEntry, RunEntryType, StopEnding } from './core/protocol/run-entry.js';
export { isFinalEntry } from './core/protocol/run-entry.js';
export type { LimitOptions, RetryOptions, SequenceBuilder, SequenceOptions, TaskBody, TaskOptions } from './core/sequence/builder.js';
// Building sequences.
export { sequence } from './core/sequence/builder.js';
export type { Problem } from './core/sequence/problems.js';
export type {
  BackoffPolicy,
  OnFailure,
  Phase,
  RetryPolicy,
  Sequence,
  TaskAction,
  TaskContext,
  TaskHandler,
  TaskSpec,
} from './core/sequence/types.js';
export type { ValidationResult } from './core/sequence/validate.js';
// Validation.
export { loadSequenceText, validateSequence } from './core/sequence/validate.js';
export type { TracedRun } from './core/trace/run-spans.js';
export type { EmbeddedOptions, EmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
// The embedded runtime, and what it reports.
export { createEmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
export type { AttemptLog, AttemptLogChunk, AttemptLogFilter, AttemptLogs, LogLine, LogStream } from './ports/attempt-logs.js';
export type { Clock } from './ports/clock.js';
export type { RunRecord, RunStatus, RunStore } from './ports/run-store.js';
export type { RunTracer } from './ports/run-tracer.js';
export type { StartRequest } from './runtime/orchestrator-options.js';
