/** Kafka mode: orchestrators, workers and clients over a Kafka cluster. */
export { startKafkaOrchestrator } from './kafka-orchestrator.js';
export type { KafkaOrchestrator, KafkaOrchestratorOptions } from './kafka-orchestrator.js';
export { createWorker, createShellWorker, emitTaskEvent, taskEventMessage, handlerExecutor } from './kafka-worker.js';
export type { KafkaWorker, KafkaWorkerOptions, WorkerHandlers, TaskAttempt, TaskOutcome } from './kafka-worker.js';
export { createLockstepClient } from './lockstep-client.js';
export { createKafkaRunService } from './run-service.js';
export type { KafkaRunServiceOptions } from './run-service.js';
export { runRecordOf } from './history-topic.js';
export type { RunHistory } from './history-topic.js';
export type { LockstepClient, StartOptions } from './lockstep-client.js';
export { DEFAULT_PREFIX, KAFKA_ENV, loadSequences, queuesOf, resolveKafka, topicPrefix } from './connection.js';
export { DefinitionsTopic } from './definitions-topic.js';
export type { KafkaModeOptions, ResolvedKafkaOptions } from './connection.js';
export { KafkaTransport } from '../../adapters/kafka/index.js';
export type { TopicLayout, TopicReport, KafkaTransportOptions } from '../../adapters/kafka/index.js';
