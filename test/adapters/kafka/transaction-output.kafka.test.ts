// A transaction's output to several partitions of one broker goes in one Produce request, pinned to that broker;
// a pinned request whose leader is not the broker it was pinned to stops before it sends, and what it held goes
// one partition per sendBatch. Each record lands once, in the partition its key picks, committed.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHUNK_BYTES, partitionChunks } from '../../../src/adapters/kafka/encoding.js';
import { createKafka, isRecordRejection, partitionOf, producerConfig } from '../../../src/adapters/kafka/kafka-client.js';
import { sendOutput } from '../../../src/adapters/kafka/transaction-output.js';
import type { BrokerSends } from '../../../src/adapters/kafka/transactional-producer.js';
import { brokerSends, createTransactionalProducer, isLeaderMoved } from '../../../src/adapters/kafka/transactional-producer.js';
import type { TopicMessage } from '../../../src/ports/transport.js';

const brokers = inject('kafkaBrokers');

describe('sendOutput', () => {
  let kafka: Kafka;
  let admin: Admin;
  const a = `transaction-output-a-${randomUUID()}`;
  const b = `transaction-output-b-${randomUUID()}`;
  /** One partition that takes records of up to 2,000 bytes. */
  const small = `transaction-output-small-${randomUUID()}`;
  const counts = new Map([
    [a, 4],
    [b, 3],
    [small, 1],
  ]);

  beforeAll(async () => {
    kafka = createKafka({ brokers, clientId: 'transaction-output', logLevel: 'nothing' });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [...counts].map(([topic, numPartitions]) => ({
        topic,
        numPartitions,
        replicationFactor: 1,
        ...(topic === small ? { configEntries: [{ name: 'max.message.bytes', value: '2000' }] } : {}),
      })),
    });
  });
  afterAll(async () => {
    await admin.deleteTopics({ topics: [a, b, small] }).catch(() => {});
    await admin.disconnect();
  });

  const output = (tag: string): TopicMessage[] =>
    Array.from({ length: 40 }, (_, i) => ({
      topic: i % 2 ? a : b,
      key: `run-${i}`,
      value: { tag, i } as unknown as TopicMessage['value'],
    }));

  /** Sends `records` in one transaction and commits it; returns the Produce requests it took. */
  async function commit(producer: Producer, records: TopicMessage[], sends: BrokerSends | undefined): Promise<number> {
    let produced = 0;
    const off = producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'Produce') produced++;
    });
    const txn = await producer.transaction();
    try {
      await sendOutput(txn, partitionChunks(records, counts, CHUNK_BYTES, false), sends, { refused: () => {}, partial: () => {} });
      await txn.commit();
    } finally {
      off();
      if (txn.isActive()) await txn.abort();
    }
    return produced;
  }

  /** Every committed record of both topics, as `topic/partition/tag/i`, sorted. */
  async function committed(expected: number): Promise<string[]> {
    const consumer = kafka.consumer({ groupId: `transaction-output-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 50 });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [a, b], fromBeginning: true });
      const done = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ topic, partition, message }) => {
            const { tag, i } = JSON.parse(message.value!.toString()) as { tag: string; i: number };
            seen.push(`${topic}/${partition}/${tag}/${i}`);
            if (seen.length >= expected) resolve();
          },
        });
      });
      await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
      await new Promise((r) => setTimeout(r, 300)); // anything more (a duplicate) would show now
    } finally {
      await consumer.disconnect();
    }
    return seen.sort();
  }

  /** The topic partitions records go to. */
  const partitions = (records: TopicMessage[]): number => partitionChunks(records, counts, CHUNK_BYTES, false).length;

  const where = (records: TopicMessage[]): string[] =>
    records
      .map((r) => {
        const { tag, i } = r.value as unknown as { tag: string; i: number };
        return `${r.topic}/${partitionOf(r.key, counts.get(r.topic)!)}/${tag}/${i}`;
      })
      .sort();

  it('sends the partitions one broker leads in one Produce request, each record to its partition, once', async () => {
    const producer = createTransactionalProducer(kafka, producerConfig(`transaction-output-${randomUUID()}`));
    await producer.connect();
    try {
      const sends = brokerSends(producer);
      expect(sends).toBeDefined();
      const first = output('first');
      const second = output('second');
      // Both topics' 7 partitions: one request per partition while the producer has no metadata of them, then one.
      expect(partitions(first)).toBe(7);
      expect(await commit(producer, first, sends)).toBeLessThanOrEqual(7);
      expect(await commit(producer, second, sends)).toBe(1);
      expect(await committed(80)).toEqual(where([...first, ...second]));
    } finally {
      await producer.disconnect();
    }
  });

  it('sends one partition per sendBatch when the broker it pinned to no longer leads them', async () => {
    const producer = createTransactionalProducer(kafka, producerConfig(`transaction-output-${randomUUID()}`));
    await producer.connect();
    try {
      const sends = brokerSends(producer)!;
      await commit(producer, output('warm-up'), sends); // loads the metadata
      // A stale leader: the pinned request stops before it sends anything, and the partitions go on their own.
      const stale: BrokerSends = { leader: () => 999, pinned: sends.pinned };
      const txn = await producer.transaction();
      await expect(
        sends.pinned(999, () => txn.sendBatch({ topicMessages: [{ topic: a, messages: [{ key: 'k', value: 'v' }] }] })),
      ).rejects.toSatisfy(isLeaderMoved);
      await txn.abort();
      const moved = output('moved');
      expect(await commit(producer, moved, stale)).toBe(partitions(moved));
      const all = await committed(160); // this test's 80 and the first test's
      expect(all.filter((r) => r.includes('/moved/'))).toEqual(where(moved));
      expect(all.filter((r) => r.includes('/warm-up/'))).toHaveLength(40);
    } finally {
      await producer.disconnect();
    }
  });

  it('names the partition whose record a broker refused, and says the request to several partitions failed', async () => {
    const producer = createTransactionalProducer(kafka, producerConfig(`transaction-output-${randomUUID()}`));
    await producer.connect();
    try {
      const sends = brokerSends(producer)!;
      const tiny: TopicMessage = { topic: small, key: 'tiny', value: { tag: 'tiny', i: 0 } as unknown as TopicMessage['value'] };
      await commit(producer, [...output('warm-up'), tiny], sends); // loads the metadata of the three topics
      const big: TopicMessage = { topic: small, key: 'big', value: { blob: 'z'.repeat(5_000) } as unknown as TopicMessage['value'] };
      const refused: string[][] = [];
      let partial = 0;
      const txn = await producer.transaction();
      const sent = sendOutput(txn, partitionChunks([...output('refused'), big], counts, CHUNK_BYTES, false), sends, {
        refused: (chunk) => refused.push(chunk.records.map((r) => r.key)),
        partial: () => partial++,
      });
      await expect(sent).rejects.toSatisfy(isRecordRejection);
      await txn.abort();
      expect(refused).toEqual([['big']]);
      expect(partial).toBe(1);
    } finally {
      await producer.disconnect();
    }
  });
});
