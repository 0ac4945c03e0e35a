/** The Kafka adapter: lockstep's only importer of kafkajs. */
export { KafkaTransport } from './kafka-transport.js';
export type { KafkaTransportOptions } from './kafka-transport.js';
export { CLIENT_SETTINGS, brokerList, createKafka, consumerConfig, producerConfig, partitionOf } from './kafka-client.js';
export type { KafkaConnectionOptions, KafkaLogLevel } from './kafka-client.js';
export { DEFAULT_HISTORY_RETENTION_MS, DEFINITION_RECORD_MAX_BYTES, definitionsTopicSpec, ensureDefinitionsTopic, ensureHistoryTopic, ensureTopics, partitionCounts, topicSpecs } from './topic-admin.js';
export type { TopicLayout, TopicReport, TopicSpec } from './topic-admin.js';
export { readPartitions, tailPartitions, endOffsets } from './partition-reader.js';
export type { ReadOptions, StartOffsets } from './partition-reader.js';
