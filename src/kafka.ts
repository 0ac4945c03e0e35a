/**
 * lockstep/kafka: lockstep across services over a Kafka cluster. Orchestrators advance runs exactly once,
 * workers run tasks on their queues, and a client starts runs and waits for them. It loads no SQLite.
 * @packageDocumentation
 */

export type { TopicLayout, TopicReport } from './adapters/kafka/index.js';
export { topicNames } from './core/protocol/envelope.js';
export type { HistoryRecord } from './core/protocol/history-record.js';
export type { RunState } from './core/protocol/run-state.js';
export type { ProgramRegistry } from './core/run/registry.js';
export type { CreateTopicsOptions } from './modes/kafka/create-topics.js';
// Topics.
export { createTopics } from './modes/kafka/create-topics.js';
export type {
  HistoryLog,
  KafkaModeOptions,
  KafkaOrchestrator,
  KafkaOrchestratorOptions,
  KafkaWorker,
  KafkaWorkerOptions,
  LockstepClient,
  LoggedDispatch,
  LoggedHistory,
  ReadHistoryLogOptions,
  SignalBody,
  StartOptions,
  TaskAttempt,
  TaskOutcome,
  WaitOptions,
  WorkerHandlers,
} from './modes/kafka/index.js';
// Orchestrators, and the sequences they run.
// Workers, and services that report task outcomes their own way.
// Clients.
export {
  createLockstepClient,
  createShellWorker,
  createWorker,
  emitTaskEvent,
  loadSequences,
  readHistoryLog,
  startKafkaOrchestrator,
  taskEventMessage,
} from './modes/kafka/index.js';
export type { SignalOutcome } from './ports/run-service.js';
export type { RunTracer } from './ports/run-tracer.js';
export type { TopicMessage } from './ports/transport.js';
