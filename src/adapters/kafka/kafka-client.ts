import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Consumer,
  ConsumerConfig,
  EachBatchPayload,
  ICustomPartitioner,
  Kafka,
  KafkaConfig,
  KafkaMessage,
  LogEntry,
  ProducerConfig,
} from 'kafkajs';
import kafkajs from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { parseEnvelope } from '../../core/protocol/envelope.js';
import type { ConsumedMessage, StoredMessage } from '../../ports/transport.js';
import { keyPartition } from './murmur2.js';

/**
 * kafkajs 2.2.4 arms its request queue's timer with a delay that can be negative; from Node 24 on, Node warns
 * (`TimeoutNegativeWarning`) once per process, on the user's stderr. The delay is clamped to 1 ms either way, so
 * the warning says nothing to a user of lockstep: it is dropped, and every other warning goes through.
 */
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type;
  if (type === 'TimeoutNegativeWarning' || (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')) return;
  (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;

const { Kafka: KafkaClient, Partitioners, logLevel } = kafkajs;

/** Log levels of the Kafka client's own messages. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** How to reach a Kafka cluster. Everything but `brokers` has a sensible default. */
export interface KafkaConnectionOptions {
  /**
   * Bootstrap brokers: an array or a comma-separated list.
   * @example '127.0.0.1:9092,127.0.0.1:9093'
   */
  readonly brokers: string | readonly string[];
  /** @default 'lockstep' */
  readonly clientId?: string;
  /** Passed to kafkajs as is (TLS, SASL). */
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: KafkaConfig['sasl'];
  /** @default 'error' */
  readonly logLevel?: KafkaLogLevel;
  /** Receives the client's log lines. @default JSON lines on stderr */
  readonly log?: (entry: { level: KafkaLogLevel; message: string; extra: Record<string, unknown> }) => void;
}

/**
 * Client settings that matter for latency and correctness, shared by every consumer and producer lockstep makes
 * (and by `bench:kafka`'s floor, so that both measure the same thing).
 */
export const CLIENT_SETTINGS = {
  /** The broker answers a fetch after this long when there is nothing to read (kafkajs defaults to 5 s). */
  maxWaitTimeInMs: 20,
  /**
   * A dead member is noticed after this long: the broker's default minimum (`group.min.session.timeout.ms`), so an
   * orchestrator SIGKILLed has its partitions served again within about 10 s (the fault suite measures it).
   */
  sessionTimeout: 6_000,
  /**
   * Workers keep a longer session: a worker whose session expires (a busy machine, a task hogging its event loop)
   * has its uncommitted dispatches run again by another worker, at the same time as its own runs of them. It must
   * stay above the shell tasks' kill grace (5 s) plus a heartbeat: a worker that died leaves the group only once
   * the lifeline has stopped its shell tasks, so its partitions are taken over without waiting for a release.
   */
  workerSessionTimeout: 10_000,
  /** How long a rebalance waits for a member to rejoin (one busy finishing a batch) before it goes on without it. */
  rebalanceTimeout: 10_000,
  heartbeatInterval: 1_000,
  /** Aborted by the broker if not ended in time (a crashed orchestrator's open transaction). */
  transactionTimeout: 30_000,
} as const;

const LEVELS: Record<KafkaLogLevel, number> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};
const NAMES: Record<number, KafkaLogLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** Splits a broker list ("a:9092,b:9092") into an array. */
export function brokerList(brokers: string | readonly string[]): string[] {
  const list = (typeof brokers === 'string' ? brokers.split(',') : [...brokers]).map((b) => b.trim()).filter((b) => b !== '');
  if (list.length === 0) throw new LockstepError(ErrorCode.invalidUsage, 'no Kafka brokers given');
  return list;
}

/** Creates the kafkajs client for a connection. */
export function createKafka(options: KafkaConnectionOptions): Kafka {
  const log = options.log ?? ((e) => process.stderr.write(`${JSON.stringify({ kafka: e.level, message: e.message, ...e.extra })}\n`));
  return new KafkaClient({
    clientId: options.clientId ?? 'lockstep',
    brokers: brokerList(options.brokers),
    ...(options.ssl ? { ssl: options.ssl } : {}),
    ...(options.sasl ? { sasl: options.sasl } : {}),
    logLevel: LEVELS[options.logLevel ?? 'error'],
    logCreator: () => (entry: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...extra } = entry.log;
      // kafkajs logs every error response of the broker (a coordinator not elected yet, a leader moving) at error
      // level, and then hands the error to its caller, which retries it or fails with it: said once, by the caller.
      if (entry.namespace === 'Connection' && message.startsWith('Response ') && options.logLevel !== 'debug') return;
      log({ level: NAMES[entry.level] ?? 'info', message: `${entry.namespace}: ${message}`, extra });
    },
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/**
 * A consumer with lockstep's settings: read_committed, short fetch waits, quick failure detection (`sessionTimeout`,
 * default {@link CLIENT_SETTINGS}' `sessionTimeout`).
 */
export function consumerConfig(groupId: string, sessionTimeout: number = CLIENT_SETTINGS.sessionTimeout): ConsumerConfig {
  return {
    groupId,
    maxWaitTimeInMs: CLIENT_SETTINGS.maxWaitTimeInMs,
    sessionTimeout,
    rebalanceTimeout: CLIENT_SETTINGS.rebalanceTimeout,
    heartbeatInterval: CLIENT_SETTINGS.heartbeatInterval,
    allowAutoTopicCreation: false,
    readUncommitted: false,
  };
}

/** An idempotent producer with the partitioner every lockstep process (and Java clients) use: murmur2 of the key. */
export function producerConfig(transactionalId?: string): ProducerConfig {
  return {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: keyedPartitioner,
    ...(transactionalId ? { transactionalId, transactionTimeout: CLIENT_SETTINGS.transactionTimeout } : {}),
  };
}

/** Turns a fetched message into a consumed one; text that is not a valid envelope keeps `value: null`, its raw text and why. */
export function decodeMessage(topic: string, partition: number, message: KafkaMessage): ConsumedMessage {
  const raw = message.value === null ? '' : message.value.toString('utf8');
  const parsed = parseEnvelope(raw);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString('utf8'),
    value: parsed.success ? parsed.envelope : null,
    raw,
    ...(parsed.success ? {} : { reason: message.value === null ? 'a tombstone (no value)' : parsed.reason }),
  };
}

/** Turns a fetched message into a stored one (text as is). */
export function storedMessage(partition: number, message: KafkaMessage): StoredMessage {
  return {
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value === null ? null : message.value.toString('utf8'),
  };
}

/** The kafkajs protocol error type of an error or of what caused it, e.g. `INVALID_PRODUCER_EPOCH`. */
export function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (let e = error as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && depth < 6; depth++) {
    if (typeof e.type === 'string') types.push(e.type);
    if (typeof (e as { name?: unknown }).name === 'string') types.push((e as { name: string }).name);
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return types;
}

/** True when the error says another producer with the same transactional id took over (this one is a zombie). */
export function isFenced(error: unknown): boolean {
  return kafkaErrorTypes(error).some(
    (t) => t === 'INVALID_PRODUCER_EPOCH' || t === 'PRODUCER_FENCED' || t === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  );
}

/** Broker errors about the records themselves: sending the same records again fails the same way. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const REJECTED = new Set([...TOO_LARGE, 'INVALID_RECORD', 'INVALID_TIMESTAMP', 'UNSUPPORTED_FOR_MESSAGE_FORMAT']);

/** True when the broker refused the records for a reason that retrying them cannot change (too large, invalid). */
export function isRecordRejection(error: unknown): boolean {
  return kafkaErrorTypes(error).some((t) => REJECTED.has(t));
}

/**
 * Waits between tries in {@link retryRetriable}, about 30 s in all: a partition's leader election on a loaded broker (a broker restarted, topics just created by
 * several processes) can outlast 10 s.
 */
const RETRIABLE_BACKOFF_MS = [50, 100, 200, 400, 800, 1_600, ...Array<number>(8).fill(3_200)];

/**
 * True for a broker error that Kafka marks retriable (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE,
 * UNKNOWN_TOPIC_OR_PARTITION, ...), as kafkajs reports it. Retries kafkajs already spent, requests it refused and
 * anything else are not: asking again would fail the same way.
 */
export function isRetriable(error: unknown): boolean {
  const protocol = error as { name?: unknown; retriable?: unknown } | undefined;
  return protocol?.name === 'KafkaJSProtocolError' && protocol.retriable === true;
}

/**
 * The client's one retry policy: sends a request again while the broker answers with an error that Kafka marks
 * retriable ({@link isRetriable}), about 30 s in all. kafkajs' admin does so only for unknown topics: right after a
 * topic is created (or a broker restarts), its partitions may be listed with a leader that is not serving them yet,
 * and ListOffsets answers NOT_LEADER_FOR_PARTITION. Every request of the transport that reads or creates topics
 * goes through it; the request must be safe to repeat.
 */
export async function retryRetriable<T>(request: () => Promise<T>, backoffMs: readonly number[] = RETRIABLE_BACKOFF_MS): Promise<T> {
  for (const backoff of backoffMs) {
    try {
      return await request();
    } catch (error) {
      if (!isRetriable(error)) throw error;
      await sleep(backoff);
    }
  }
  return request();
}

/**
 * Wraps a client failure in lockstep's taxonomy: records the broker refused for good are `RECORD_TOO_LARGE` or
 * `RECORD_REJECTED` (not retriable), anything else `TRANSPORT_UNAVAILABLE` (retriable). A lockstep error stays as it is.
 */
export function transportError(what: string, error: unknown): LockstepError {
  // Already in lockstep's words (a bad layout, an answer the reader gave): passed on as it is.
  if (error instanceof LockstepError) return error;
  const message = `${what}: ${(error as Error)?.message ?? String(error)}`;
  const types = kafkaErrorTypes(error);
  if (types.some((t) => TOO_LARGE.has(t))) return new LockstepError(ErrorCode.recordTooLarge, message, { retriable: false, cause: error });
  if (types.some((t) => REJECTED.has(t))) return new LockstepError(ErrorCode.recordRejected, message, { retriable: false, cause: error });
  return new LockstepError(ErrorCode.transportUnavailable, message, { retriable: true, cause: error });
}

/** The partition a key lands in among `partitions`: kafkajs' default partitioner (murmur2, as Java clients do). */
export function partitionOf(key: string, partitions: number): number {
  return keyPartition(key, partitions);
}

/**
 * kafkajs' DefaultPartitioner, keyed records hashed by lockstep's murmur2 (the same partitions, without kafkajs'
 * 64-bit `Long` arithmetic); records without a key go round robin, as kafkajs sends them.
 */
const keyedPartitioner: ICustomPartitioner = () => {
  const unkeyed = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) return keyPartition(message.key, partitionMetadata.length);
    return unkeyed(args);
  };
};

/**
 * Joins `consumer`'s group on `topic`, from its beginning when the group has no position, and hands each batch to
 * `eachBatch`, which resolves offsets and commits them itself: both subscriptions decide what is acknowledged.
 * Up to 64 of the topic's `partitions` are consumed at once.
 */
export async function consumeBatches(
  consumer: Consumer,
  topic: string,
  partitions: number,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: Math.max(1, Math.min(partitions, 64)),
    eachBatch,
  });
}
