import type { Admin } from 'kafkajs';
import kafkajs from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { kafkaErrorTypes, retryRetriable } from './kafka-client.js';

/** What {@link ensureTopics} creates. */
export interface TopicLayout {
  /** @default 'lockstep' */
  readonly prefix?: string;
  /** Partitions of every topic (explicit: it bounds how many orchestrators and workers share the load). */
  readonly partitions: number;
  /** Task queues: one command topic each. `default` (shell and handler tasks) is always included. */
  readonly queues?: readonly string[];
  /** @default -1 (the cluster's default.replication.factor) */
  readonly replicationFactor?: number;
  /** How long the history topic keeps each run's entries, in ms (its `retention.ms`). @default 7 days */
  readonly historyRetentionMs?: number;
}

/** How long the history topic keeps entries unless told otherwise. */
export const DEFAULT_HISTORY_RETENTION_MS = 7 * 24 * 3600_000;

/** What {@link ensureTopics} found and did. */
export interface TopicReport {
  readonly created: string[];
  readonly existing: string[];
  /** Partitions of the events topic (the run-state and history topics have the same count; the definitions topic has one). */
  readonly partitions: number;
}

/** One topic of a layout: its name, and its settings when they are not the cluster's defaults. */
export interface TopicSpec {
  readonly topic: string;
  /** Partitions, when the topic does not take the layout's count. */
  readonly partitions?: number;
  readonly configEntries?: Array<{ name: string; value: string }>;
}

/**
 * The largest record of the definitions topic: a definition may have 2 MiB of text, which its record's JSON
 * escapes (quotes, newlines), so the topic takes records of up to 8 MiB rather than the broker's default of 1 MiB.
 */
export const DEFINITION_RECORD_MAX_BYTES = 8 * 1_048_576;

/**
 * The definitions topic: compacted, one record per definition keyed by its sha256, in one partition (definitions
 * are few, and a reader reads them all).
 */
export function definitionsTopicSpec(prefix?: string): TopicSpec {
  return {
    topic: topicNames(prefix).definitions,
    partitions: 1,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'max.message.bytes', value: String(DEFINITION_RECORD_MAX_BYTES) },
    ],
  };
}

/** Every topic of a layout, with its settings. */
export function topicSpecs(layout: TopicLayout): TopicSpec[] {
  const names = topicNames(layout.prefix);
  const queues = [...new Set(['default', ...(layout.queues ?? [])])].sort();
  return [
    { topic: names.events },
    // One record per run, keyed by run id: compaction keeps the latest state of each run.
    {
      topic: names.runs,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.cleanable.dirty.ratio', value: '0.1' },
      ],
    },
    definitionsTopicSpec(layout.prefix),
    { topic: names.deadLetter },
    ...queues.map((q) => ({ topic: names.commands(q) })),
    historySpec(names.history, layout.historyRetentionMs),
    // Attempts' log lines, kept as long as the history.
    historySpec(names.logs, layout.historyRetentionMs),
  ];
}

/** The history topic: every entry of every run, deleted once older than the retention. */
function historySpec(topic: string, retentionMs = DEFAULT_HISTORY_RETENTION_MS, partitions?: number): TopicSpec {
  if (!Number.isInteger(retentionMs) || retentionMs < 1) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `Expected the history retention to be a whole number of ms from 1 and up, got \`${String(retentionMs)}\``,
    );
  }
  return {
    topic,
    ...(partitions ? { partitions } : {}),
    configEntries: [
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: String(retentionMs) },
    ],
  };
}

/** True when every topic the request named exists already: another process created them meanwhile. */
function allExist(error: unknown): boolean {
  const errors = (error as { errors?: unknown } | undefined)?.errors;
  const each = Array.isArray(errors) && errors.length > 0 ? errors : [error];
  return each.every((e) => kafkaErrorTypes(e).includes('TOPIC_ALREADY_EXISTS'));
}

/** A partition that is listed without a leader serving it yet, as a retriable broker error ({@link retryRetriable}). */
function notServing(topic: string, partition: number): Error {
  const cause = Object.assign(new Error(`${topic} partition ${partition} has no leader serving it yet`), {
    type: 'LEADER_NOT_AVAILABLE',
    code: 5,
    retriable: true,
  });
  return new kafkajs.KafkaJSProtocolError(cause);
}

/**
 * Resolves once every partition of `topics` has a leader that answers for it (metadata without an error, then
 * ListOffsets), about 30 s at most: a topic that another process is creating at the same moment is listed before
 * its partitions are, and `waitForLeaders` only sees leaders in the metadata.
 */
export async function awaitServing(admin: Admin, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  await retryRetriable(async () => {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
    for (const t of meta) {
      if (t.partitions.length === 0) throw notServing(t.name, 0);
      for (const p of t.partitions) if (p.partitionErrorCode !== 0 || p.leader < 0) throw notServing(t.name, p.partitionId);
    }
    await Promise.all(
      topics.map((topic) =>
        admin.fetchTopicOffsets(topic).catch((error: unknown) => {
          // In a cluster, a broker the new topic's metadata has not reached lists it without partitions, and kafkajs
          // then fails with a TypeError: not serving yet, like any other sign of it.
          if (error instanceof TypeError) throw notServing(topic, 0);
          throw error;
        }),
      ),
    );
  });
}

/**
 * Creates the topics of `specs` that `known` does not hold, waits until they serve, and returns those it created.
 * One created meanwhile by another process is fine (TOPIC_ALREADY_EXISTS), and so is a request the broker answers
 * with a retriable error.
 */
async function createMissing(
  admin: Admin,
  specs: readonly TopicSpec[],
  known: ReadonlySet<string>,
  partitions: number,
  replicationFactor: number,
): Promise<TopicSpec[]> {
  const missing = specs.filter((s) => !known.has(s.topic));
  // One request per topic: kafkajs answers `false` for a request whose topics all existed, so only then is it
  // known which of them this process created. Not `waitForLeaders`: kafkajs would send the request again when its
  // wait fails, and take the topic it had just created for another process's; awaitServing waits instead.
  const created = await Promise.all(
    missing.map((s) =>
      retryRetriable(() =>
        admin
          .createTopics({
            waitForLeaders: false,
            topics: [
              {
                topic: s.topic,
                numPartitions: s.partitions ?? partitions,
                replicationFactor,
                ...(s.configEntries ? { configEntries: s.configEntries } : {}),
              },
            ],
          })
          .catch((error: unknown) => {
            if (!allExist(error)) throw error;
            return false;
          }),
      ),
    ),
  );
  await awaitServing(
    admin,
    missing.map((s) => s.topic),
  );
  return missing.filter((_, i) => created[i]);
}

/**
 * Creates the definitions topic if it does not exist yet (an orchestrator started without a partition count, on
 * topics made before lockstep had it). Resolves to whether it created it.
 */
export async function ensureDefinitionsTopic(admin: Admin, prefix?: string, replicationFactor = -1): Promise<boolean> {
  const spec = definitionsTopicSpec(prefix);
  const created = await createMissing(admin, [spec], new Set(await admin.listTopics()), 1, replicationFactor);
  return created.length > 0;
}

/**
 * Creates the history topic when it is missing, with the events topic's partition count (a run's entries live in
 * the partition of its events), and returns whether it did. Nothing else is created or changed.
 */
export async function ensureHistoryTopic(
  admin: Admin,
  options: { readonly prefix?: string; readonly retentionMs?: number; readonly replicationFactor?: number },
): Promise<boolean> {
  const names = topicNames(options.prefix);
  const known = new Set(await admin.listTopics());
  if (known.has(names.history)) return false;
  const partitions = (await partitionCounts(admin, [names.events])).get(names.events);
  if (!partitions)
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `topic ${names.events} does not exist: create the topics first (lockstep topics create)`,
    );
  const created = await createMissing(
    admin,
    [historySpec(names.history, options.retentionMs, partitions)],
    known,
    partitions,
    options.replicationFactor ?? -1,
  );
  return created.length > 0;
}

/**
 * Creates the topics of a layout that do not exist yet, with an explicit partition count, and checks that the
 * events and run-state topics have the same number of partitions (a run's state lives in the partition of its
 * events).
 *
 * @throws LockstepError INVALID_USAGE when the partition count is not a positive integer or the existing topics
 * do not line up.
 */
export async function ensureTopics(admin: Admin, layout: TopicLayout): Promise<TopicReport> {
  if (!Number.isInteger(layout.partitions) || layout.partitions < 1) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `Expected \`partitions\` to be an integer from 1 and up, got \`${String(layout.partitions)}\``,
    );
  }
  const names = topicNames(layout.prefix);
  const known = new Set(await admin.listTopics());
  // The history topic follows the events topic's partition count, which an existing events topic may not share.
  const eventsPartitions =
    !known.has(names.history) && known.has(names.events) ? (await partitionCounts(admin, [names.events])).get(names.events) : undefined;
  const specs = topicSpecs(layout).map((s) => (s.topic === names.history && eventsPartitions ? { ...s, partitions: eventsPartitions } : s));
  const created = new Set(
    (await createMissing(admin, specs, known, layout.partitions, layout.replicationFactor ?? -1)).map((s) => s.topic),
  );
  // Topics listed already may be another process's, created a moment ago: their partitions may not serve yet.
  await awaitServing(
    admin,
    specs.filter((s) => known.has(s.topic)).map((s) => s.topic),
  );
  const counts = await partitionCounts(admin, [names.events, names.runs]);
  const events = counts.get(names.events) ?? 0;
  const runs = counts.get(names.runs) ?? 0;
  if (events !== runs) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `${names.events} has ${events} partitions but ${names.runs} has ${runs}: they must have the same number`,
    );
  }
  return {
    created: specs.filter((s) => created.has(s.topic)).map((s) => s.topic),
    // Found, or created meanwhile by another process.
    existing: specs.filter((s) => !created.has(s.topic)).map((s) => s.topic),
    partitions: events,
  };
}

/** Partition counts of existing topics. */
export async function partitionCounts(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
  return new Map(meta.map((t) => [t.name, t.partitions.length]));
}

/** Settings of a topic by name, as the broker reports them (its own default included); unknown names are left out. */
export async function topicConfig(admin: Admin, topic: string, names: readonly string[]): Promise<Map<string, string>> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: CONFIG_TOPIC, name: topic, configNames: [...names] }],
  });
  return new Map((described.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
}

/** Kafka's own default of `message.max.bytes`, when the broker does not say. */
const BROKER_DEFAULT_MAX_BYTES = 1_048_588;
/**
 * Bytes of a record batch besides its records' keys and values: the batch header (61 bytes) and each record's
 * framing (lengths, offsets, timestamps: at most ~40 bytes), rounded up. One record alone in a batch fits its
 * topic's `max.message.bytes` when its key and value take at most that much less.
 */
export const BATCH_OVERHEAD_BYTES = 256;
/** Framing of each further record in a batch (see {@link BATCH_OVERHEAD_BYTES}). */
export const RECORD_OVERHEAD_BYTES = 64;

/**
 * The largest record (key and value, UTF-8 bytes) each topic accepts: its `max.message.bytes`, or the broker's
 * `message.max.bytes` for a topic that cannot be described, less {@link BATCH_OVERHEAD_BYTES}.
 */
export async function recordLimits(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  let broker: Promise<number> | undefined;
  const brokerLimit = () => (broker ??= brokerMaxBytes(admin));
  const limits = new Map<string, number>();
  await Promise.all(
    topics.map(async (name) => {
      let bytes: number | undefined;
      try {
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: CONFIG_TOPIC, name, configNames: ['max.message.bytes'] }],
        });
        bytes = positive(described.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      } catch {
        // not created yet, or not allowed to describe it: the broker's limit is what it will get
      }
      limits.set(name, Math.max(0, (bytes ?? (await brokerLimit())) - BATCH_OVERHEAD_BYTES));
    }),
  );
  return limits;
}

/** kafkajs' ConfigResourceTypes (a const enum in its typings only). */
const CONFIG_TOPIC = 2;
const CONFIG_BROKER = 4;

async function brokerMaxBytes(admin: Admin): Promise<number> {
  try {
    const { brokers } = await admin.describeCluster();
    const id = brokers[0]?.nodeId;
    if (id === undefined) return BROKER_DEFAULT_MAX_BYTES;
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: CONFIG_BROKER, name: String(id), configNames: ['message.max.bytes'] }],
    });
    return (
      positive(described.resources[0]?.configEntries.find((e) => e.configName === 'message.max.bytes')?.configValue) ??
      BROKER_DEFAULT_MAX_BYTES
    );
  } catch {
    return BROKER_DEFAULT_MAX_BYTES;
  }
}

function positive(text: string | undefined): number | undefined {
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}
