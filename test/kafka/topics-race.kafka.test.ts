// Topics that were just created, or that several processes create at the same moment, are usable at once: every
// `createTopics` of a race resolves, and a client's first start, wait, status, cancel and history right after do
// not fail with a broker error that Kafka marks retriable (NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION).
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { ErrorCode } from '../../src/core/errors.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { createTopics } from '../../src/modes/kafka/create-topics.js';
import { createLockstepClient } from '../../src/modes/kafka/lockstep-client.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const TRIALS = 8;
const CREATORS = 4;

describe('topics created a moment ago', () => {
  const transport = new KafkaTransport({ ...base, clientId: 'topics-race-test' });
  afterAll(() => transport.close());

  it(`${CREATORS} concurrent creates of one layout all succeed, ${TRIALS} times, and every partition serves`, async () => {
    const failures: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const prefix = `race-${randomUUID().slice(0, 8)}`;
      const settled = await Promise.allSettled(
        Array.from({ length: CREATORS }, () => createTopics({ ...base, prefix, partitions: 3, queues: ['payments'] })),
      );
      for (const s of settled) if (s.status === 'rejected') failures.push(`${prefix}: ${(s.reason as Error).message}`);
      const reports = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      // Each topic was created by exactly one of them; the others found it.
      const names = topicNames(prefix);
      for (const topic of [names.events, names.runs, names.history, names.commands('payments')]) {
        expect(reports.filter((r) => r.created.includes(topic)).length, topic).toBeLessThanOrEqual(1);
        expect(
          reports.every((r) => r.created.includes(topic) || r.existing.includes(topic)),
          topic,
        ).toBe(true);
      }
      const ends = await transport.endOffsets(names.events);
      expect([...ends.keys()].sort()).toEqual([0, 1, 2]);
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it(`a client's first requests right after the topics are created succeed, ${TRIALS} times`, async () => {
    const failures: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const prefix = `fresh-${randomUUID().slice(0, 8)}`;
      await createTopics({ ...base, prefix, partitions: 3 });
      const client = createLockstepClient({ ...base, prefix });
      try {
        const runId = randomUUID();
        const requests: Record<string, () => Promise<unknown>> = {
          wait: () =>
            client.wait(randomUUID(), { timeoutMs: 500 }).catch((error: { code?: unknown }) => {
              // No orchestrator runs: giving up waiting is the one expected failure.
              if (error.code !== ErrorCode.waitTimeout) throw error;
            }),
          status: () => client.status(randomUUID()),
          history: () => client.history(randomUUID()),
          start: () => client.start('hello', { runId }),
          cancel: () => client.cancel(runId),
          retention: () => client.historyRetentionMs(),
        };
        const settled = await Promise.allSettled(Object.values(requests).map((r) => r()));
        settled.forEach((s, i) => {
          if (s.status === 'rejected') failures.push(`${Object.keys(requests)[i]} on ${prefix}: ${(s.reason as Error).message}`);
        });
      } finally {
        await client.close();
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
