/** Kafka mode: orchestrators, workers and clients over a Kafka cluster. */

export type { KafkaTransportOptions, TopicLayout, TopicReport } from '../../adapters/kafka/index.js';
export { KafkaTransport } from '../../adapters/kafka/index.js';
export type { KafkaModeOptions, ResolvedKafkaOptions } from './connection.js';
export { DEFAULT_PREFIX, KAFKA_ENV, loadSequences, queuesOf, resolveKafka, topicPrefix } from './connection.js';
export { DefinitionsTopic } from './definitions-topic.js';
export type { HistoryLog, LoggedDispatch, LoggedHistory, ReadHistoryLogOptions } from './history-log.js';
export { readHistoryLog } from './history-log.js';
export type { RunHistory } from './history-topic.js';
export { runRecordOf } from './history-topic.js';
export type { KafkaOrchestrator, KafkaOrchestratorOptions } from './kafka-orchestrator.js';
export { startKafkaOrchestrator } from './kafka-orchestrator.js';
export type { KafkaWorker, KafkaWorkerOptions, TaskAttempt, TaskOutcome, WorkerHandlers } from './kafka-worker.js';
export { createShellWorker, createWorker, emitTaskEvent, handlerExecutor, taskEventMessage } from './kafka-worker.js';
export type { LockstepClient, SignalBody, StartOptions } from './lockstep-client.js';
export { createLockstepClient } from './lockstep-client.js';
export type { KafkaRunServiceOptions } from './run-service.js';
export { createKafkaRunService } from './run-service.js';
export type { WaitOptions } from './run-watch.js';
