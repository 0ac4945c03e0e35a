// Topics that were just created, or that several processes create at the same moment, are usable at once: every
// `createTopics` of a race resolves, and a client's first start, wait, status, cancel and history right after do
// not fail with a broker error that Kafka marks retriable (NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION).
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { ErrorCode } from '../../src/core/errors.js';
import { createTopics } from '../../src/modes/kafka/create-topics.js';
import { createLockstepClient } from '../../src/modes/kafka/lockstep-client.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const TRIALS = 8;

describe('topics created a moment ago', () => {
  const transport = new KafkaTransport({ ...base, clientId: 'topics-race-test' });
  afterAll(() => transport.close());

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
