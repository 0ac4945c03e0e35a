// The transport contract against the real broker, plus what only Kafka has: raw malformed input, fencing of a
// zombie member, and reading partitions back.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/kafka-transport.js';
import { parsePartitionOffset, partitionOffsetKey } from '../../src/core/protocol/partition-offset.js';
import type { ConsumedMessage, TopicMessage } from '../../src/ports/transport.js';
import { rawAdmin, rawKafka } from '../support/raw-kafka.js';
import { eventually, message, numberOf, transportContract } from './transport.contract.js';

const brokers = inject('kafkaBrokers');

async function createTopic(
  _transport: KafkaTransport,
  partitions: number,
  config: Array<{ name: string; value: string }> = [],
): Promise<string> {
  const topic = `contract-${randomUUID()}`;
  const admin = await rawAdmin(brokers);
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: config }],
    });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

const options = { brokers, clientId: 'contract', logLevel: 'nothing' as const };

transportContract('kafka', async () => {
  const transport = new KafkaTransport({ ...options, redeliveryDelayMs: 50 });
  return { transport, topic: (n) => createTopic(transport, n), patienceMs: 30_000, close: () => transport.close() };
});

describe('KafkaTransport (Kafka only)', () => {
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport(options);
  });
  afterAll(async () => {
    await transport.close();
  });

  it('hands malformed text to the handler with value null and the raw text', async () => {
    const topic = await createTopic(transport, 1);
    const got: ConsumedMessage[] = [];
    let ready!: () => void;
    const assigned = new Promise<void>((r) => (ready = r));
    const sub = await transport.subscribe(
      { topic, group: `raw-${randomUUID()}`, onAssigned: async () => ready() },
      async (batch) => (got.push(...batch), []),
    );
    await assigned;
    const producer = rawKafka(brokers).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: 'r1', value: 'not json {' },
        { key: 'r1', value: '{"v":1,"type":"task.succeeded"}' },
      ],
    });
    await producer.disconnect();
    await transport.publish([message(topic, 'r1', 7)]);
    await eventually(() => expect(got.length).toBeGreaterThanOrEqual(3), 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toHaveLength(3);
    expect(got[0]).toMatchObject({ key: 'r1', value: null, raw: 'not json {', partition: 0, offset: '0' });
    expect(got[1]).toMatchObject({ value: null, raw: '{"v":1,"type":"task.succeeded"}' });
    expect(numberOf(got[2]!)).toBe(7);
    await sub.close();
  });

  it('fences a member whose partition was taken over: its transaction never becomes visible', async () => {
    const [input, output] = [await createTopic(transport, 1), await createTopic(transport, 1)];
    const group = `fence-${randomUUID()}`;
    const revoked: number[][] = [];
    let handled = 0;
    let ready!: () => void;
    const assigned = new Promise<void>((r) => (ready = r));
    const zombie = await transport.subscribe(
      {
        topic: input,
        group,
        onAssigned: async () => ready(),
        onRevoked: async (p) => void revoked.push([...p]),
      },
      async (batch) => {
        handled++;
        return batch.map((c) => message(output, c.key!, numberOf(c)));
      },
    );
    await assigned;
    // Another process takes partition 0 over: it initialises the same transactional id.
    const usurper = rawKafka(brokers).producer({ transactionalId: `${group}.${input}.0`, idempotent: true, maxInFlightRequests: 1 });
    await usurper.connect();
    await (await usurper.transaction()).abort();
    await transport.publish([message(input, 'z', 1)]);
    await eventually(() => expect(revoked).toContainEqual([0]), 30_000);
    expect(handled).toBeGreaterThanOrEqual(1);
    await zombie.close();
    await usurper.disconnect();
    // A read_committed reader of the output topic finds nothing: the zombie's transaction was never committed.
    expect(await transport.readPartitions(output, [0])).toEqual([]);
  });

  it('with offset records: what a fenced member records never becomes visible, and a new member starts after the last committed record', async () => {
    const [input, output] = [await createTopic(transport, 1), await createTopic(transport, 1)];
    const group = `fence-records-${randomUUID()}`;
    const offsetRecord = (partition: number, offset: string): TopicMessage => ({
      topic: output,
      partition,
      key: partitionOffsetKey(group, partition),
      value: { v: 1, type: 'partition.offset', group, topic: input, partition, offset, time: new Date().toISOString() },
    });
    const recorded = async () => {
      const found = new Map<number, string>();
      for (const r of await transport.readPartitions(output, [0])) {
        const parsed = r.key === partitionOffsetKey(group, 0) ? parsePartitionOffset(r.value!) : undefined;
        if (parsed?.success) found.set(r.partition, parsed.record.offset);
      }
      return found;
    };
    const handled: number[] = [];
    const subscribe = async () => {
      let ready!: () => void;
      const assigned = new Promise<void>((r) => (ready = r));
      const revoked: number[][] = [];
      const sub = await transport.subscribe(
        {
          topic: input,
          group,
          offsetRecord,
          onAssigned: async () => (ready(), recorded()),
          onRevoked: async (p) => void revoked.push([...p]),
        },
        async (batch) => batch.map((c) => (handled.push(numberOf(c)), message(output, c.key!, numberOf(c)))),
      );
      await assigned;
      return { sub, revoked };
    };
    const first = await subscribe();
    await transport.publish([message(input, 'z', 1), message(input, 'z', 2)]);
    await expect.poll(async () => Object.fromEntries(await recorded()), { timeout: 30_000 }).toEqual({ 0: '2' });
    // Another process takes partition 0 over: the first member's next transaction is fenced.
    const usurper = rawKafka(brokers).producer({ transactionalId: `${group}.${input}.0`, idempotent: true, maxInFlightRequests: 1 });
    await usurper.connect();
    await (await usurper.transaction()).abort();
    await transport.publish([message(input, 'z', 3)]);
    await eventually(() => expect(first.revoked).toContainEqual([0]), 30_000);
    await first.sub.close();
    await usurper.disconnect();
    expect(Object.fromEntries(await recorded())).toEqual({ 0: '2' });
    // The group offset may trail (it is a hint), so lose it: the next member starts after the record anyway.
    const admin = await rawAdmin(brokers);
    await admin.setOffsets({ groupId: group, topic: input, partitions: [{ partition: 0, offset: '0' }] });
    await admin.disconnect();
    handled.length = 0;
    const second = await subscribe();
    await expect.poll(async () => Object.fromEntries(await recorded()), { timeout: 30_000 }).toEqual({ 0: '3' });
    expect(handled).toEqual([3]);
    await second.sub.close();
  });

  it('reads partitions back up to their end, committed messages only', async () => {
    const topic = await createTopic(transport, 2, [{ name: 'cleanup.policy', value: 'compact' }]);
    await transport.publish(Array.from({ length: 10 }, (_, i) => message(topic, `key-${i % 3}`, i)));
    const aborted = rawKafka(brokers).producer({
      transactionalId: `aborted-${randomUUID()}`,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
    await aborted.connect();
    const txn = await aborted.transaction();
    await txn.send({
      topic,
      messages: [
        { key: 'key-0', value: 'aborted' },
        { key: 'key-1', value: 'aborted' },
      ],
    });
    await txn.abort();
    await aborted.disconnect();
    const records = await transport.readPartitions(topic, [0, 1]);
    expect(records).toHaveLength(10);
    expect(records.every((r) => !r.value?.includes('aborted'))).toBe(true);
    const numbers = records
      .map((r) => (JSON.parse(r.value!) as { payload: { input: { n: number } } }).payload.input.n)
      .sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(await transport.readPartitions(topic, [])).toEqual([]);
  });
});
