/**
 * lockstep: run sequences of tasks strictly one after the other, with explicit failure semantics.
 * @packageDocumentation
 */
export { sequence, SequenceBuilder } from './core/sequence/builder.js';
export type { LimitOptions, RetryOptions, SequenceOptions, TaskBody, TaskOptions } from './core/sequence/builder.js';
export type { Sequence, TaskSpec, TaskHandler, TaskContext, RetryPolicy, BackoffPolicy, Phase, OnFailure, TaskAction } from './core/sequence/types.js';
export { validateSequence, loadSequenceText, parseDefinitionText } from './core/sequence/validate.js';
export type { ValidationResult } from './core/sequence/validate.js';
export type { Problem } from './core/sequence/problems.js';
export { parseDuration, formatDuration } from './core/sequence/duration.js';
export { compile } from './core/compile/machine.js';
export type { RunMachine } from './core/compile/machine.js';
export type { Command, RunEvent, RunContext, Outcome, TaskError } from './core/compile/types.js';
export { createProgram } from './core/step.js';
export type { Program, RunSnapshot, StepResult, IgnoredReason, PersistedRun } from './core/step.js';
export { EnvelopeSchema, parseEnvelope, topicNames, PROTOCOL_VERSION } from './core/protocol/envelope.js';
export type { Envelope, EnvelopeType, DeadLetter } from './core/protocol/envelope.js';
export type { RunEntry, RunEntryType } from './core/protocol/run-entry.js';
export { LockstepError, DefinitionError, MessageError, TaskFailure, ErrorCode } from './core/errors.js';
export type { Clock } from './ports/clock.js';
export type { Transport, TopicMessage, ConsumedMessage, BatchHandler } from './ports/transport.js';
export type { RunStore, RunRecord, RunStatus } from './ports/run-store.js';
export { loadSequenceFile } from './adapters/fs/load-sequence.js';
export type { LoadedSequence } from './adapters/fs/load-sequence.js';
export { SimulatedClock } from './runtime/simulated-clock.js';
export { systemClock } from './runtime/system-clock.js';
export { Orchestrator } from './runtime/orchestrator.js';
export type { OrchestratorOptions, StartRequest, OrchestratorStats } from './runtime/orchestrator.js';
export { startWorker } from './runtime/worker.js';
export type { WorkerOptions, WorkerHandle, Executor, LazySignalExecutor, DispatchedTask } from './runtime/worker.js';
export { LAZY_SIGNAL } from './runtime/worker.js';
export { createEmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
export type { EmbeddedOptions, EmbeddedRuntime } from './modes/embedded/embedded-runtime.js';
export { MemoryTransport } from './adapters/memory/memory-transport.js';
export { MemoryRunStore } from './adapters/memory/memory-run-store.js';
export { SqliteRunStore } from './adapters/sqlite/sqlite-run-store.js';
export type { SqliteStoreStats } from './adapters/sqlite/sqlite-run-store.js';
export type { OpenStoreOptions } from './adapters/sqlite/store-file.js';
export {
  startKafkaOrchestrator, createWorker, createShellWorker, emitTaskEvent, taskEventMessage, createLockstepClient, loadSequences,
  ensureTopics, KafkaTransport,
} from './modes/kafka/index.js';
export type {
  KafkaOrchestrator, KafkaOrchestratorOptions, KafkaWorker, KafkaWorkerOptions, WorkerHandlers, TaskAttempt, TaskOutcome,
  LockstepClient, StartOptions, KafkaModeOptions, TopicLayout, TopicReport, KafkaTransportOptions,
} from './modes/kafka/index.js';
export { RunStateSchema } from './core/protocol/run-state.js';
export type { RunState } from './core/protocol/run-state.js';
export { PartitionOffsetSchema, partitionOffsetKey, isReservedKey } from './core/protocol/partition-offset.js';
export type { PartitionOffset } from './core/protocol/partition-offset.js';
export { wireJsonSchemas } from './core/protocol/json-schema.js';
// Model-based testing without vitest (`lockstep/testing` adds `describeSequencePaths` for vitest suites).
export { testSequence } from './testing/test-sequence.js';
export type { SequenceTestReport, TestSequenceOptions } from './testing/test-sequence.js';
