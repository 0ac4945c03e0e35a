// A finished run's state stays on the compacted run-state topic for keepFinishedMs, then the orchestrator deletes it
// with a tombstone in a transaction of the run's partition: the topic, and the time a takeover takes to restore a
// partition, do not grow with every run ever started.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { latestStates } from '../../src/runtime/journals/kafka/run-state-topic.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const two = sequence('two').then('a', { queue: 'q' }).then('b', { queue: 'q' }).build();
const registry = new ProgramRegistry();
registry.register(two, { definition: definitionText(two), hash: sha256Hex(definitionText(two)) });

describe('finished runs on the run-state topic', () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport({ ...base, clientId: 'finished-retention' });
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await transport.close();
  });

  const setup = async (prefix: string) => {
    const worker: KafkaWorker = await createWorker({ ...base, prefix, queue: 'q', handlers: { '*': () => 'ok' } });
    const client: LockstepClient = createLockstepClient({ ...base, prefix });
    closers.push(client, { close: () => worker.close({ graceMs: 100 }) });
    return client;
  };
  const orchestrator = async (prefix: string, keepFinishedMs?: number): Promise<KafkaOrchestrator> => {
    const o = await startKafkaOrchestrator({
      ...base,
      prefix,
      registry,
      partitions: 1,
      ...(keepFinishedMs === undefined ? {} : { keepFinishedMs }),
    });
    closers.push(o);
    return o;
  };
  const runAll = async (client: LockstepClient, count: number) => {
    const ids = await Promise.all(Array.from({ length: count }, () => client.start('two')));
    for (const id of ids) expect((await client.wait(id, { timeoutMs: 30_000 })).status).toBe('succeeded');
    return ids;
  };
  const storedRuns = async (prefix: string) =>
    [...latestStates(await transport.readPartitions(topicNames(prefix).runs, [0])).states.keys()].sort();

  it('deletes a finished run once keepFinishedMs has passed, in the next transaction of its partition', async () => {
    const prefix = `retention-${randomUUID().slice(0, 8)}`;
    const o = await orchestrator(prefix, 1500);
    const client = await setup(prefix);
    const old = await runAll(client, 3);
    expect(await storedRuns(prefix)).toEqual([...old].sort());
    expect(o.orchestrator.stats.expired).toBe(0);
    await new Promise((r) => setTimeout(r, 1600));
    const [fresh] = await runAll(client, 1);
    await expect.poll(() => o.orchestrator.stats.expired, { timeout: 10_000 }).toBe(3);
    expect(await storedRuns(prefix)).toEqual([fresh]);
    for (const id of old) expect(await client.status(id)).toBeUndefined();
    expect(await client.status(fresh!)).toMatchObject({ status: 'succeeded' });
  });

  it('an orchestrator that takes a partition over deletes the expired runs it restores', async () => {
    const prefix = `retention-${randomUUID().slice(0, 8)}`;
    const first = await orchestrator(prefix);
    const client = await setup(prefix);
    const old = await runAll(client, 2);
    await first.close();
    closers.splice(closers.indexOf(first), 1);
    await new Promise((r) => setTimeout(r, 50));
    const second = await orchestrator(prefix, 20);
    const [fresh] = await runAll(client, 1);
    await expect.poll(() => second.orchestrator.stats.expired, { timeout: 10_000 }).toBe(2);
    expect(await storedRuns(prefix)).toEqual([fresh]);
    for (const id of old) expect(await client.status(id)).toBeUndefined();
    expect(second.orchestrator.stats).toMatchObject({ restored: 0, ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 } });
  });
});
