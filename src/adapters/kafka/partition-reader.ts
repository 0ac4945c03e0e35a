import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { StoredMessage } from '../../ports/transport.js';
import { consumerConfig, retryRetriable, storedMessage, transportError } from './kafka-client.js';

/** Options of {@link readPartitions}. */
export interface ReadOptions {
  /** Gives up after this long. @default 60000 */
  readonly timeoutMs?: number;
}

interface ReaderRun {
  readonly stop: () => Promise<void>;
}

/**
 * Consumes `partitions` of `topic` with a throw-away consumer group (kafkajs cannot assign partitions by hand):
 * the other partitions are paused, the wanted ones are read from their beginning. Committed messages
 * only. `onBatch` returns true once reading can stop.
 */
async function consume(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  partitions: readonly number[],
  onBatch: (partition: number, messages: StoredMessage[], lastOffset: string) => boolean,
): Promise<{ run: ReaderRun; done: Promise<void> }> {
  const wanted = new Set(partitions);
  const groupId = `lockstep-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ ...consumerConfig(groupId), maxWaitTimeInMs: 50 });
  let finish!: () => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let finished = false;
  const settle = (f: () => void) => {
    if (finished) return;
    finished = true;
    f();
  };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = payload.memberAssignment[topic] ?? [];
    const others = assigned.filter((p) => !wanted.has(p));
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic !== topic || !wanted.has(payload.partition)) return;
    try {
      if (onBatch(payload.partition, [], payload.lastOffset)) settle(finish);
    } catch (error) {
      settle(() => fail(error));
    }
  });
  // A retriable crash (a coordinator moving, a leader not serving yet) restarts the consumer by itself.
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) settle(() => fail(payload.error));
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
  } catch (error) {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    throw error;
  }
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (!wanted.has(batch.partition)) return;
      const messages = batch.messages.map((m) => storedMessage(batch.partition, m));
      if (onBatch(batch.partition, messages, batch.lastOffset())) settle(finish);
    },
  });
  return {
    done,
    run: {
      stop: async () => {
        await consumer.disconnect().catch(() => {});
        // The throw-away group committed nothing; remove it so it does not linger in listings.
        await admin.deleteGroups([groupId]).catch(() => {});
      },
    },
  };
}

/** End offsets (the next offset to be written) of a topic's partitions. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, { low: bigint; high: bigint }>> {
  const offsets = await retryRetriable(() => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }]));
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads partitions of a topic from their beginning up to their end as of the call, committed messages only, in
 * offset order per partition.
 */
export async function readPartitions(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  partitions: readonly number[],
  options: ReadOptions = {},
): Promise<StoredMessage[]> {
  if (partitions.length === 0) return [];
  try {
    const ends = await endOffsets(admin, topic);
    const remaining = new Map<number, bigint>();
    for (const p of partitions) {
      const end = ends.get(p);
      if (end && end.high > end.low) remaining.set(p, end.high - 1n);
    }
    if (remaining.size === 0) return [];
    const out: StoredMessage[] = [];
    const reader = await retryRetriable(() =>
      consume(kafka, admin, topic, [...remaining.keys()], (partition, messages, lastOffset) => {
        for (const m of messages) if (BigInt(m.offset) <= (remaining.get(partition) ?? -1n)) out.push(m);
        const target = remaining.get(partition);
        if (target !== undefined && BigInt(lastOffset) >= target) remaining.delete(partition);
        return remaining.size === 0;
      }),
    );
    try {
      await withTimeout(reader.done, options.timeoutMs ?? 60_000, `reading ${topic}`);
    } finally {
      await reader.run.stop();
    }
    return out;
  } catch (error) {
    throw transportError(`cannot read ${topic}`, error);
  }
}
