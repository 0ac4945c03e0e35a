import { existsSync } from 'node:fs';
import { listSequenceFiles, loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import type { KafkaConnectionOptions, KafkaLogLevel } from '../../adapters/kafka/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import { sequenceQueues } from '../../core/sequence/queues.js';

/** The environment variables Kafka mode reads, and only {@link resolveKafka} reads them. */
export const KAFKA_ENV = {
  brokers: 'KAFKA_BROKERS',
  prefix: 'LOCKSTEP_TOPIC_PREFIX',
  logLevel: 'LOCKSTEP_KAFKA_LOG_LEVEL',
} as const;

/** The topic prefix when none is given or set. */
export const DEFAULT_PREFIX = 'lockstep';

/** Where lockstep's Kafka processes connect and which topics they use. */
export interface KafkaModeOptions extends Omit<KafkaConnectionOptions, 'brokers'> {
  /** Bootstrap brokers. @default the KAFKA_BROKERS environment variable */
  readonly brokers?: string | readonly string[];
  /** Topic prefix. @default the LOCKSTEP_TOPIC_PREFIX environment variable, else 'lockstep' */
  readonly prefix?: string;
}

/** Kafka-mode options with the broker list, topic prefix and client log level resolved. */
export type ResolvedKafkaOptions<T extends KafkaModeOptions = KafkaModeOptions> = T & {
  readonly brokers: string | readonly string[];
  readonly prefix: string;
};

/** The topic prefix: given, else {@link KAFKA_ENV}.prefix, else {@link DEFAULT_PREFIX}. {@link resolveKafka} uses it too. */
export function topicPrefix(prefix: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return prefix ?? (env[KAFKA_ENV.prefix] || DEFAULT_PREFIX);
}

const LOG_LEVELS: readonly KafkaLogLevel[] = ['nothing', 'error', 'warn', 'info', 'debug'];

/**
 * The one place that resolves where Kafka mode connects: what is given wins, else the environment
 * ({@link KAFKA_ENV}: brokers, topic prefix, client log level), else the defaults. Every Kafka process of lockstep,
 * the command line and `serve` included, goes through it.
 *
 * @throws LockstepError INVALID_USAGE when no broker is given or set.
 */
export function resolveKafka<T extends KafkaModeOptions>(options: T, env: NodeJS.ProcessEnv = process.env): ResolvedKafkaOptions<T> {
  const brokers = options.brokers ?? (env[KAFKA_ENV.brokers] || undefined);
  const none = brokers === undefined || (typeof brokers === 'string' ? brokers.trim() === '' : brokers.length === 0);
  if (none) throw new LockstepError(ErrorCode.invalidUsage, `no Kafka brokers: pass --brokers host:port or set ${KAFKA_ENV.brokers}`);
  const prefix = topicPrefix(options.prefix, env);
  const level = env[KAFKA_ENV.logLevel] as KafkaLogLevel | undefined;
  const logLevel = options.logLevel ?? (level && LOG_LEVELS.includes(level) ? level : undefined);
  return { ...options, brokers, prefix, ...(logLevel ? { logLevel } : {}) };
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
