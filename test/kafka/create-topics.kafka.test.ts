// createTopics (lockstep/kafka) creates a deployment's topics from TypeScript, as `lockstep topics create` does,
// without handing the caller a Kafka client.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { ErrorCode } from '../../src/core/errors.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { createTopics } from '../../src/modes/kafka/create-topics.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

describe('createTopics', () => {
  const transport = new KafkaTransport({ ...base, clientId: 'create-topics-test' });
  afterAll(() => transport.close());

  it('creates the missing topics with the partition count, and leaves existing ones as they are', async () => {
    const prefix = `topics-${randomUUID().slice(0, 8)}`;
    const names = topicNames(prefix);
    const all = [names.events, names.runs, names.deadLetter, names.logs, names.commands('default'), names.commands('payments')];
    const first = await createTopics({ ...base, prefix, partitions: 2, queues: ['payments'] });
    expect(first.partitions).toBe(2);
    expect(first.existing).toEqual([]);
    for (const topic of all) expect(first.created).toContain(topic);
    const counts = await transport.partitionCounts(all);
    for (const topic of all) expect(counts.get(topic), topic).toBe(2);

    const again = await createTopics({ ...base, prefix, partitions: 2, queues: ['payments', 'shipping'] });
    expect(again.created).toEqual([names.commands('shipping')]);
    expect(again.existing.sort()).toEqual([...first.created].sort());
  });

  it('refuses a partition count that is not a positive integer, creating nothing', async () => {
    const prefix = `topics-${randomUUID().slice(0, 8)}`;
    await expect(createTopics({ ...base, prefix, partitions: 0 })).rejects.toMatchObject({
      code: ErrorCode.invalidUsage,
      message: expect.stringContaining('`partitions`'),
    });
    const names = topicNames(prefix);
    expect(await transport.partitionCounts([names.events, names.runs, names.deadLetter, names.history, names.commands('default')])).toEqual(
      new Map(),
    );
  });
});
