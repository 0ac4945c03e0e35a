/**
 * lockstep/kafka: lockstep across services over a Kafka cluster. Orchestrators advance runs exactly once,
 * workers run tasks on their queues, and a client starts runs and waits for them. It loads no SQLite.
 * @packageDocumentation
 */

// Orchestrators, and the sequences they run.
export { startKafkaOrchestrator, loadSequences } from './modes/kafka/index.js';
export type { KafkaOrchestrator, KafkaOrchestratorOptions, KafkaModeOptions } from './modes/kafka/index.js';
export type { ProgramRegistry } from './core/run/registry.js';

// Workers, and services that report task outcomes their own way.
export { createWorker, createShellWorker, emitTaskEvent, taskEventMessage } from './modes/kafka/index.js';
export type { KafkaWorker, KafkaWorkerOptions, WorkerHandlers, TaskAttempt, TaskOutcome } from './modes/kafka/index.js';
export type { TopicMessage } from './ports/transport.js';

// Clients.
export { createLockstepClient } from './modes/kafka/index.js';
export type { LockstepClient, StartOptions } from './modes/kafka/index.js';
export type { RunState } from './core/protocol/run-state.js';

// Topics.
export { createTopics } from './modes/kafka/create-topics.js';
export type { CreateTopicsOptions } from './modes/kafka/create-topics.js';
export { topicNames } from './core/protocol/envelope.js';
export type { TopicLayout, TopicReport } from './adapters/kafka/index.js';
