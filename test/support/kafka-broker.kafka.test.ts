// Proves that the Kafka broker of test/support/kafka-global-setup.ts (or the one named by
// KAFKA_BROKERS) works with kafkajs 2.2.4: plain produce/consume in order, transactions
// (commit and abort, read_committed), and that the broker of scripts/kafka/broker.mjs keeps
// its data across a SIGKILL and a restart.
import { randomUUID } from 'node:crypto';
import type { Kafka as KafkaClient, KafkaMessage } from 'kafkajs';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type KafkaBroker, startBroker } from '../../scripts/kafka/broker.mjs';

const { Kafka, logLevel, Partitioners } = kafkajs;

const brokers = inject('kafkaBrokers');
const runId = randomUUID();

function client(bootstrap: string): KafkaClient {
  return new Kafka({
    clientId: `lockstep-kafka-test-${runId}`,
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
  });
}

async function createTopic(kafka: KafkaClient, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
  } finally {
    await admin.disconnect();
  }
}

/** Reads `count` messages of `topic` from the beginning with a fresh consumer group (read_committed). */
async function consume(kafka: KafkaClient, topic: string, count: number, timeoutMs = 20_000): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `lockstep-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const seen: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${seen.length} of ${count} messages from ${topic} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push(message);
            if (seen.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

const values = (messages: KafkaMessage[]) => messages.map((m) => m.value?.toString());

describe('Kafka test broker', () => {
  it('is provided to the tests', () => {
    expect(brokers).toMatch(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/);
  });

  it('produces 3 keyed messages and consumes them back in order', async () => {
    const kafka = client(brokers);
    const topic = `lockstep-test-plain-${runId}`;
    await createTopic(kafka, topic);

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: [1, 2, 3].map((i) => ({ key: runId, value: `step-${i}` })),
      });
    } finally {
      await producer.disconnect();
    }

    const got = await consume(kafka, topic, 3);
    expect(values(got)).toEqual(['step-1', 'step-2', 'step-3']);
    expect(got.map((m) => m.key?.toString())).toEqual([runId, runId, runId]);
    expect(got.map((m) => Number(m.offset))).toEqual([0, 1, 2]);
  }, 30_000);

  it('commits and aborts kafkajs transactions (read_committed consumers see only committed ones)', async () => {
    const kafka = client(brokers);
    const topic = `lockstep-test-tx-${runId}`;
    await createTopic(kafka, topic);

    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      transactionalId: `lockstep-test-tx-${runId}`,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ key: runId, value: 'aborted' }] });
      await aborted.abort();

      const committed = await producer.transaction();
      await committed.send({
        topic,
        messages: [1, 2, 3].map((i) => ({ key: runId, value: `tx-${i}` })),
      });
      await committed.commit();
    } finally {
      await producer.disconnect();
    }

    // kafkajs consumers read with isolation level read_committed by default.
    const got = await consume(kafka, topic, 3);
    expect(values(got)).toEqual(['tx-1', 'tx-2', 'tx-3']);
  }, 40_000);

  describe('a broker of its own (scripts/kafka/broker.mjs)', () => {
    let own: KafkaBroker | undefined;
    afterAll(async () => {
      await own?.stop();
    }, 20_000);

    it('keeps its messages across a SIGKILL and a restart on the same data dir and port', async () => {
      own = await startBroker({ log: false });
      const kafka = client(own.brokers);
      const topic = `lockstep-test-restart-${runId}`;
      await createTopic(kafka, topic);

      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      try {
        await producer.send({ topic, acks: -1, messages: [1, 2, 3].map((i) => ({ key: runId, value: `kept-${i}` })) });
      } finally {
        await producer.disconnect();
      }

      const { pid, brokers: before, dataDir } = own;
      await own.kill('SIGKILL');
      expect(own.isRunning()).toBe(false);
      await own.start();
      expect(own.pid).not.toBe(pid);
      expect(own.brokers).toBe(before);
      expect(own.dataDir).toBe(dataDir);

      const got = await consume(client(own.brokers), topic, 3);
      expect(values(got)).toEqual(['kept-1', 'kept-2', 'kept-3']);
    }, 60_000);
  });
});
