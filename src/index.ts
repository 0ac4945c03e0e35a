/**
 * lockstep: run sequences of tasks strictly one after the other, with explicit failure semantics.
 *
 * This entry holds what a sequence needs in one process: the builder, validation, the embedded runtime and
 * the errors. It loads neither Kafka nor SQLite: those are `lockstep/kafka` and `lockstep/sqlite`, and
 * model-based testing is `lockstep/testing`.
 * @packageDocumentation
 */

// Building sequences.
export { sequence } from './core/sequence/builder.js';
export type { SequenceBuilder, LimitOptions, RetryOptions, SequenceOptions, TaskBody, TaskOptions } from './core/sequence/builder.js';
export type { Sequence, TaskSpec, TaskHandler, TaskContext, RetryPolicy, BackoffPolicy, Phase, OnFailure, TaskAction } from './core/sequence/types.js';

// Validation.
export { validateSequence, loadSequenceText } from './core/sequence/validate.js';
export type { ValidationResult } from './core/sequence/validate.js';
export type { Problem } from './core/sequence/problems.js';
export { loadSequenceFile } from './adapters/fs/load-sequence.js';
export type { LoadedSequence } from './adapters/fs/load-sequence.js';

// The embedded runtime, and what it reports.
export { createEmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
export type { EmbeddedOptions, EmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
export type { StartRequest } from './runtime/orchestrator-options.js';
export { isFinalEntry } from './core/protocol/run-entry.js';
export type { RunEntry, RunEntryType, FinalEntry, StopEnding } from './core/protocol/run-entry.js';
export type { Outcome, TaskError } from './core/compile/types.js';
export type { RunStore, RunRecord, RunStatus } from './ports/run-store.js';
export type { Clock } from './ports/clock.js';

// Errors.
export { LockstepError, DefinitionError, MessageError, TaskFailure, ErrorCode } from './core/errors.js';
