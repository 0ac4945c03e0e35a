// The transport contract against the real broker, plus what only Kafka has: raw malformed input, fencing of a
// zombie member, and reading partitions back.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/kafka-transport.js';
import type { ConsumedMessage } from '../../src/ports/transport.js';
import { eventually, message, numberOf, transportContract } from './transport.contract.js';

const brokers = inject('kafkaBrokers');

async function createTopic(transport: KafkaTransport, partitions: number, config: Array<{ name: string; value: string }> = []): Promise<string> {
  const topic = `contract-${randomUUID()}`;
  const admin = await transport.admin();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: config }] });
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
    const sub = await transport.subscribe({ topic, group: `raw-${randomUUID()}`, onAssigned: async () => ready() }, async (batch) => (got.push(...batch), []));
    await assigned;
    const producer = transport.kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'r1', value: 'not json {' }, { key: 'r1', value: '{"v":1,"type":"task.succeeded"}' }] });
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
    const zombie = await transport.subscribe({
      topic: input, group, onAssigned: async () => ready(), onRevoked: async (p) => void revoked.push([...p]),
    }, async (batch) => {
      handled++;
      return batch.map((c) => message(output, c.key!, numberOf(c)));
    });
    await assigned;
    // Another process takes partition 0 over: it initialises the same transactional id.
    const usurper = transport.kafka.producer({ transactionalId: `${group}.${input}.0`, idempotent: true, maxInFlightRequests: 1 });
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

  it('reads partitions back up to their end, committed messages only', async () => {
    const topic = await createTopic(transport, 2, [{ name: 'cleanup.policy', value: 'compact' }]);
    await transport.publish(Array.from({ length: 10 }, (_, i) => message(topic, `key-${i % 3}`, i)));
    const aborted = transport.kafka.producer({ transactionalId: `aborted-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await aborted.connect();
    const txn = await aborted.transaction();
    await txn.send({ topic, messages: [{ key: 'key-0', value: 'aborted' }, { key: 'key-1', value: 'aborted' }] });
    await txn.abort();
    await aborted.disconnect();
    const records = await transport.readPartitions(topic, [0, 1]);
    expect(records).toHaveLength(10);
    expect(records.every((r) => !r.value?.includes('aborted'))).toBe(true);
    const numbers = records.map((r) => (JSON.parse(r.value!) as { payload: { input: { n: number } } }).payload.input.n).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(await transport.readPartitions(topic, [])).toEqual([]);
  });
});
