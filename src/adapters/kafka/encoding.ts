import type { Admin, TopicMessages } from 'kafkajs';
import type { TopicMessage } from '../../ports/transport.js';
import { partitionOf as keyPartition } from './kafka-client.js';
import { partitionCounts, RECORD_OVERHEAD_BYTES } from './topic-admin.js';

/** Keeps each produce request well under the broker's default 1 MB record batch limit. */
export const CHUNK_BYTES = 512 * 1024;

/** Messages for one `sendBatch`, grouped by topic, and the records they came from (to tell which one a broker refused). */
export interface Chunk {
  readonly topicMessages: TopicMessages[];
  readonly records: readonly TopicMessage[];
  /** Keys, values and record framing, in UTF-8 bytes. */
  readonly bytes: number;
}

/**
 * Groups messages by topic for `sendBatch`, keeping their order; values are JSON text keyed by run id. Returns
 * several chunks when the messages are large, each at most `maxBytes` (keys, values and record framing, in UTF-8
 * bytes) unless one record alone is larger, so that a batch to one partition never exceeds its topic's limit.
 */
export function topicMessageChunks(
  messages: readonly TopicMessage[],
  maxBytes = CHUNK_BYTES,
  partitionOf: (m: TopicMessage) => number | undefined = (m) => m.partition,
): Chunk[] {
  const chunks: Chunk[] = [];
  let byTopic = new Map<string, TopicMessages>();
  let records: TopicMessage[] = [];
  let bytes = 0;
  const close = () => {
    if (records.length > 0) chunks.push({ topicMessages: [...byTopic.values()], records, bytes });
    byTopic = new Map();
    records = [];
    bytes = 0;
  };
  for (const m of messages) {
    const value = m.value === null ? null : JSON.stringify(m.value);
    const size = (value === null ? 0 : Buffer.byteLength(value)) + Buffer.byteLength(m.key) + RECORD_OVERHEAD_BYTES;
    if (bytes > 0 && bytes + size > maxBytes) close();
    bytes += size;
    records.push(m);
    let group = byTopic.get(m.topic);
    if (!group) {
      group = { topic: m.topic, messages: [] };
      byTopic.set(m.topic, group);
    }
    const partition = partitionOf(m);
    group.messages.push({ key: m.key, value, ...(partition === undefined ? {} : { partition }) });
  }
  close();
  return chunks;
}

/** One chunk per record: to find the record a broker refused in a chunk it refused. */
export function singleRecordChunks(
  messages: readonly TopicMessage[],
  partitionOf: (m: TopicMessage) => number | undefined = (m) => m.partition,
): Chunk[] {
  return messages.flatMap((m) => topicMessageChunks([m], CHUNK_BYTES, partitionOf));
}

/**
 * Splits messages by the partition each goes to (its own, else its key's, picked as kafkajs' default partitioner
 * picks it from `counts`, the partitions of each topic), keeping their order; each partition's messages are in
 * chunks as `topicMessageChunks` makes them (or one per record with `single`), each chunk naming its partition.
 *
 * No `sendBatch` of a transaction reaches several brokers (see `sendOutput`): kafkajs 2.2.4 is not safe with one
 * that does. When the request to one broker fails (NOT_LEADER_FOR_PARTITION,
 * NOT_ENOUGH_REPLICAS, a lost connection, as when a leader dies), it retries at once while the requests to the
 * others may still be in flight, and remembers which brokers answered, not which partitions: a request still in
 * flight is sent again with new sequence numbers (its records are written twice, both copies committed), and a
 * partition whose leadership moved to a broker that had answered is never sent at all (its records are lost while
 * the transaction commits). With one broker per call, each attempt is one request: kafkajs' retries, with the
 * same sequence numbers, are then ones the broker deduplicates.
 */
export function partitionChunks(
  messages: readonly TopicMessage[],
  counts: ReadonlyMap<string, number>,
  maxBytes: number,
  single: boolean,
): Chunk[][] {
  const groups = new Map<string, { partition: number; records: TopicMessage[] }>();
  const assigned = new Map<TopicMessage, number>();
  for (const m of messages) {
    let partition = m.partition;
    if (partition === undefined) {
      const count = counts.get(m.topic);
      if (count === undefined) throw new Error(`no partition count for topic ${m.topic}`);
      partition = keyPartition(m.key, count);
    }
    assigned.set(m, partition);
    const id = `${partition}:${m.topic}`;
    let group = groups.get(id);
    if (!group) {
      group = { partition, records: [] };
      groups.set(id, group);
    }
    group.records.push(m);
  }
  const partitionOf = (m: TopicMessage): number => assigned.get(m)!;
  return [...groups.values()].map((g) =>
    single ? singleRecordChunks(g.records, partitionOf) : topicMessageChunks(g.records, maxBytes, partitionOf),
  );
}

/**
 * One `sendBatch` of several chunks, each to a partition of its own: a Produce request holding one record batch
 * per partition. Each chunk's messages keep their order.
 */
export function mergeChunks(chunks: readonly Chunk[]): Chunk {
  if (chunks.length === 1) return chunks[0]!;
  const byTopic = new Map<string, TopicMessages>();
  const records: TopicMessage[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    for (const { topic, messages } of chunk.topicMessages) {
      let group = byTopic.get(topic);
      if (!group) {
        group = { topic, messages: [] };
        byTopic.set(topic, group);
      }
      for (const m of messages) group.messages.push(m); // no spread: a chunk may hold more records than a call takes arguments
    }
    for (const r of chunk.records) records.push(r);
    bytes += chunk.bytes;
  }
  return { topicMessages: [...byTopic.values()], records, bytes };
}

/**
 * The partition counts of the topics messages go to, read once per topic (lockstep's topics keep their partitions
 * while it runs): what `partitionChunks` needs.
 */
export function partitionCountCache(
  admin: () => Promise<Admin>,
): (messages: readonly TopicMessage[]) => Promise<ReadonlyMap<string, number>> {
  const counts = new Map<string, number>();
  return async (messages) => {
    const missing = [...new Set(messages.filter((m) => m.partition === undefined && !counts.has(m.topic)).map((m) => m.topic))];
    if (missing.length === 0) return counts;
    const read = await partitionCounts(await admin(), missing);
    for (const topic of missing) {
      const count = read.get(topic);
      if (count === undefined || count < 1) throw new Error(`cannot read the partitions of ${topic}: no such topic`);
      counts.set(topic, count);
    }
    return counts;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
