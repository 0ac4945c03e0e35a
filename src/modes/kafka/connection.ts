import { existsSync } from 'node:fs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { KafkaConnectionOptions, KafkaTransport, TopicLayout, TopicReport } from '../../adapters/kafka/index.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import { sequenceQueues } from '../../core/sequence/queues.js';
import { listSequenceFiles, loadSequenceFile } from '../../adapters/fs/load-sequence.js';

/** Where lockstep's Kafka processes connect and which topics they use. */
export interface KafkaModeOptions extends Omit<KafkaConnectionOptions, 'brokers'> {
  /** Bootstrap brokers. @default the KAFKA_BROKERS environment variable */
  readonly brokers?: string | readonly string[];
  /** Topic prefix. @default 'lockstep' */
  readonly prefix?: string;
}

/** The broker list: given, else KAFKA_BROKERS. */
export function resolveBrokers(brokers: string | readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): string | readonly string[] {
  return brokers ?? env.KAFKA_BROKERS ?? '';
}

/** Creates the topics of a layout that do not exist yet (see {@link KafkaTransport.ensureTopics}). */
export function ensureTopics(transport: KafkaTransport, layout: TopicLayout): Promise<TopicReport> {
  return transport.ensureTopics(layout);
}

/**
 * Loads every sequence file of a directory (or one file) into a registry.
 *
 * @throws DefinitionError on an invalid file; LockstepError INVALID_USAGE when `path` does not exist.
 */
export function loadSequences(path: string): ProgramRegistry {
  if (!existsSync(path)) throw new LockstepError(ErrorCode.invalidUsage, `no sequences at ${path}: no such file or directory`);
  const registry = new ProgramRegistry();
  for (const file of listSequenceFiles(path)) {
    const loaded = loadSequenceFile(file);
    registry.register(loaded.sequence, { definition: loaded.text, hash: loaded.hash, source: loaded.path });
  }
  return registry;
}

/** The queues a registry's sequences dispatch to (shell tasks, and function tasks that name none, use `default`). */
export function queuesOf(registry: ProgramRegistry): string[] {
  return sequenceQueues(registry.names().map((name) => registry.resolve(name).program.sequence));
}
