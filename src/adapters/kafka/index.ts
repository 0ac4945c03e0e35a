/** The Kafka adapter: lockstep's only importer of kafkajs. Its client never leaves it. */

export type { KafkaConnectionOptions, KafkaLogLevel } from './kafka-client.js';
export { CLIENT_SETTINGS, partitionOf } from './kafka-client.js';
export type { KafkaTransportOptions } from './kafka-transport.js';
export { KafkaTransport } from './kafka-transport.js';
export type { TopicLayout, TopicReport, TopicSpec } from './topic-admin.js';
export { DEFAULT_HISTORY_RETENTION_MS, DEFINITION_RECORD_MAX_BYTES, definitionsTopicSpec, topicSpecs } from './topic-admin.js';
