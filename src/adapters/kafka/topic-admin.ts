import type { Admin } from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';

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
}

/** What {@link ensureTopics} found and did. */
export interface TopicReport {
  readonly created: string[];
  readonly existing: string[];
  /** Partitions of the events topic (the run-state topic has the same count). */
  readonly partitions: number;
}

/** Every topic of a layout, with its settings. */
export function topicSpecs(layout: TopicLayout): Array<{ topic: string; configEntries?: Array<{ name: string; value: string }> }> {
  const names = topicNames(layout.prefix);
  const queues = [...new Set(['default', ...(layout.queues ?? [])])].sort();
  return [
    { topic: names.events },
    // One record per run, keyed by run id: compaction keeps the latest state of each run.
    { topic: names.runs, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'min.cleanable.dirty.ratio', value: '0.1' }] },
    { topic: names.deadLetter },
    ...queues.map((q) => ({ topic: names.commands(q) })),
  ];
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
    throw new LockstepError(ErrorCode.invalidUsage, `Expected \`partitions\` to be an integer from 1 and up, got \`${String(layout.partitions)}\``);
  }
  const specs = topicSpecs(layout);
  const known = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !known.has(s.topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic, numPartitions: layout.partitions, replicationFactor: layout.replicationFactor ?? -1,
        ...(s.configEntries ? { configEntries: s.configEntries } : {}),
      })),
    }).catch((error: unknown) => {
      // Another process may have created them at the same moment.
      if (!String((error as Error).message).includes('already exists')) throw error;
    });
  }
  const names = topicNames(layout.prefix);
  const counts = await partitionCounts(admin, [names.events, names.runs]);
  const events = counts.get(names.events) ?? 0;
  const runs = counts.get(names.runs) ?? 0;
  if (events !== runs) {
    throw new LockstepError(ErrorCode.invalidUsage, `${names.events} has ${events} partitions but ${names.runs} has ${runs}: they must have the same number`);
  }
  return { created: missing.map((s) => s.topic), existing: specs.filter((s) => known.has(s.topic)).map((s) => s.topic), partitions: events };
}

/** Partition counts of existing topics. */
export async function partitionCounts(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
  return new Map(meta.map((t) => [t.name, t.partitions.length]));
}
