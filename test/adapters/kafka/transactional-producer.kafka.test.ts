// Transactional producers look their coordinators up once, not before every transactional request.
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka, producerConfig } from '../../../src/adapters/kafka/kafka-client.js';
import { createTransactionalProducer } from '../../../src/adapters/kafka/transactional-producer.js';

const brokers = inject('kafkaBrokers');

describe('createTransactionalProducer', () => {
  let kafka: Kafka;
  let topic: string;
  beforeAll(async () => {
    kafka = createKafka({ brokers, clientId: 'transactional-producer', logLevel: 'nothing' });
    topic = `transactional-producer-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    await admin.disconnect();
  });
  afterAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  /** Runs transactions as the orchestrator does (output and offsets), counting FindCoordinator requests. */
  async function lookups(producer: Producer, transactions: number): Promise<number> {
    let found = 0;
    const off = producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'GroupCoordinator') found++;
    });
    for (let i = 0; i < transactions; i++) {
      const txn = await producer.transaction();
      await Promise.all([
        txn.sendBatch({ topicMessages: [{ topic, messages: [{ key: 'k', value: String(i) }] }], acks: -1 }),
        txn.sendOffsets({ consumerGroupId: `group-${topic}`, topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }] }),
      ]);
      await txn.commit();
      await new Promise((r) => setTimeout(r, 20)); // lets the commit complete: plain kafkajs would retry after 100 ms
    }
    off();
    return found;
  }

  it('looks each coordinator up once instead of before every transactional request', async () => {
    const plain = kafka.producer(producerConfig(`plain-${randomUUID()}`));
    const cached = createTransactionalProducer(kafka, producerConfig(`cached-${randomUUID()}`));
    await Promise.all([plain.connect(), cached.connect()]);
    try {
      await Promise.all([lookups(plain, 1), lookups(cached, 1)]); // initialises the transactional ids
      // kafkajs alone: before AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn.
      expect(await lookups(plain, 3)).toBeGreaterThanOrEqual(12);
      expect(await lookups(cached, 3)).toBe(0);
    } finally {
      await Promise.all([plain.disconnect(), cached.disconnect()]);
    }
  });

  it('goes on committing after the producer reconnected', async () => {
    const producer = createTransactionalProducer(kafka, producerConfig(`reconnect-${randomUUID()}`));
    await producer.connect();
    try {
      await lookups(producer, 1);
      await producer.disconnect();
      await producer.connect();
      // At most one lookup of the transaction coordinator and one of the group coordinator.
      expect(await lookups(producer, 3)).toBeLessThanOrEqual(2);
    } finally {
      await producer.disconnect();
    }
  });

  it('begins a transaction right after the previous one committed without surfacing CONCURRENT_TRANSACTIONS', async () => {
    const producer = createTransactionalProducer(kafka, producerConfig(`back-to-back-${randomUUID()}`));
    await producer.connect();
    try {
      for (let i = 0; i < 30; i++) {
        const txn = await producer.transaction();
        // Both registering requests go out at once, right after the previous EndTxn, as the orchestrator sends them.
        const sent = await Promise.allSettled([
          txn.sendBatch({ topicMessages: [{ topic, messages: [{ key: 'k', value: String(i) }] }], acks: -1 }),
          txn.sendOffsets({
            consumerGroupId: `group-${topic}`,
            topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }],
          }),
        ]);
        expect(sent.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
        await txn.commit();
      }
    } finally {
      await producer.disconnect();
    }
  });

  it('falls back to a plain producer when the client is not the kafkajs it knows', () => {
    const made: unknown[] = [];
    const fake = { producer: (config: unknown) => (made.push(config), 'plain producer') } as unknown as Kafka;
    expect(createTransactionalProducer(fake, { idempotent: true })).toBe('plain producer');
    expect(made).toEqual([{ idempotent: true }]);
  });
});
