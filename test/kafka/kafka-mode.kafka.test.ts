// Kafka mode in one process against the real broker: orchestrator, workers and client over KafkaTransport.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, emitTaskEvent, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { registryOf } from '../support/code-registry.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

const three = sequence('three').then('a', { queue: 'q' }).then('b', { queue: 'q' }).then('c', { queue: 'q' }).build();
const slow = sequence('slow').then('wait', { queue: 'q' }).then('after', { queue: 'q' }).build();
const external = sequence('external')
  .then('elsewhere', { queue: 'svc' })
  .then('again', { queue: 'svc' }, { retry: { maxAttempts: 3 } })
  .build();
const retrying = sequence('retrying')
  .then('flaky', { queue: 'q' }, { retry: { maxAttempts: 3, backoff: { initial: '1500ms', factor: 1 } } })
  .build();

describe('Kafka mode', () => {
  const prefix = `km-${randomUUID().slice(0, 8)}`;
  const closers: Array<{ close(): Promise<void> }> = [];
  let client: LockstepClient;
  const registry = registryOf(three, slow, retrying, external);
  const calls: string[] = [];
  const flaky = new Map<string, number>();
  const aborted: string[] = [];

  const orchestrator = async () => {
    const o = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 2 });
    closers.push(o);
    return o;
  };
  const worker = async () => {
    const w = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: {
        a: (ctx) => (calls.push(`${ctx.runId}:a`), { a: 1 }),
        b: (ctx) => (calls.push(`${ctx.runId}:b`), { b: (ctx.results.a as { a: number }).a + 1 }),
        c: (ctx) => (calls.push(`${ctx.runId}:c`), 'done'),
        wait: (ctx) =>
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => (aborted.push(ctx.runId), reject(new Error('aborted'))))),
        after: () => 'never',
        flaky: (ctx) => {
          flaky.set(ctx.runId, ctx.attempt);
          if (ctx.attempt < 2) throw new Error('transient');
          return { attempt: ctx.attempt };
        },
      },
    });
    closers.push(w);
    return w;
  };

  afterAll(async () => {
    for (const c of closers.reverse()) await ('inFlight' in c ? (c as KafkaWorker).close({ graceMs: 100 }) : c.close()).catch(() => {});
    await client?.close();
  });

  it('runs a sequence across an orchestrator and a worker, and the client sees its state', async () => {
    await orchestrator();
    await worker();
    client = createLockstepClient({ ...base, prefix });
    const runId = await client.start('three', { input: { x: 1 } });
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('succeeded');
    expect(calls.filter((c) => c.startsWith(runId))).toEqual([`${runId}:a`, `${runId}:b`, `${runId}:c`]);
    const state = await client.status(runId);
    expect(state).toMatchObject({ runId, sequence: 'three', status: 'succeeded', final: { outcome: 'succeeded' } });
    expect((state!.snapshot.context as { results: Record<string, unknown> }).results).toEqual({ a: { a: 1 }, b: { b: 2 }, c: 'done' });
    expect(await client.status(`unknown-${randomUUID()}`)).toBeUndefined();
  });

  it('cancels a run: the cancellation reaches the running handler', async () => {
    const runId = await client.start('slow');
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 20_000 }).toBe('wait');
    await client.cancel(runId, 'test');
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('cancelled');
    await expect.poll(() => aborted.includes(runId), { timeout: 10_000 }).toBe(true);
  });

  it('a new orchestrator restores runs from the run-state topic and fires their timers at the original due time', async () => {
    const first = closers.find((c): c is KafkaOrchestrator => 'orchestrator' in c)!;
    const runId = await client.start('retrying');
    // The first attempt fails; the retry waits 1.5 s on a timer held by the first orchestrator.
    await expect.poll(() => client.status(runId).then((s) => Object.keys(s?.timers ?? {})), { timeout: 20_000 }).toContain('retry:flaky:1');
    const dueAt = (await client.status(runId))!.timers['retry:flaky:1']!;
    await first.close();
    closers.splice(closers.indexOf(first), 1);
    const second = await orchestrator();
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('succeeded');
    expect(flaky.get(runId)).toBe(2);
    expect(second.orchestrator.stats.restored).toBeGreaterThanOrEqual(1);
    const attempt2 = final.updatedAt;
    expect(attempt2).toBeGreaterThanOrEqual(dueAt);
  });

  it('a worker stopping with a grace period hands a task still running back to the other workers of its queue', async () => {
    const own = `km-${randomUUID().slice(0, 8)}`;
    const started: string[] = [];
    const handlers = (name: string) => ({
      wait: (ctx: { signal: AbortSignal }) => {
        started.push(name);
        if (name === 'second') return { by: name };
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      },
      after: () => 'after',
    });
    const o = await startKafkaOrchestrator({ ...base, prefix: own, registry, partitions: 1 });
    const first = await createWorker({ ...base, prefix: own, queue: 'q', handlers: handlers('first') });
    const ownClient = createLockstepClient({ ...base, prefix: own });
    try {
      const runId = await ownClient.start('slow');
      await expect.poll(() => started, { timeout: 20_000 }).toEqual(['first']);
      await first.close({ graceMs: 100 });
      // Handed back: neither reported nor acknowledged.
      expect(first.stats).toMatchObject({ succeeded: 0, failed: 0, handedBack: 1 });
      const second = await createWorker({ ...base, prefix: own, queue: 'q', handlers: handlers('second') });
      try {
        const final = await ownClient.wait(runId, { timeoutMs: 30_000 });
        expect(final.status).toBe('succeeded');
        expect(started).toEqual(['first', 'second']);
        expect((final.snapshot.context as { results: Record<string, unknown> }).results).toEqual({
          wait: { by: 'second' },
          after: 'after',
        });
      } finally {
        await second.close({ graceMs: 100 });
      }
    } finally {
      await ownClient.close();
      await o.close();
    }
  });

  it('advances a run from a task event emitted with emitTaskEvent, without a worker', async () => {
    const runId = await client.start('external');
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 20_000 }).toBe('elsewhere');
    await emitTaskEvent({ ...base, prefix }, { runId, taskId: 'elsewhere', attempt: 1 }, { result: { done: true } });
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 20_000 }).toBe('again');
    await emitTaskEvent({ ...base, prefix }, { runId, taskId: 'again', attempt: 1 }, { error: { message: 'declined', retriable: false } });
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    expect(final.final?.failedTasks).toEqual(['again']);
    expect((final.snapshot.context as { results: Record<string, unknown> }).results).toEqual({ elsewhere: { done: true } });
  });

  it('creates topics with an explicit partition count and refuses mismatched ones', async () => {
    const transport = new KafkaTransport(base);
    try {
      const p = `topics-${randomUUID().slice(0, 8)}`;
      const report = await transport.ensureTopics({ prefix: p, partitions: 3, queues: ['x'] });
      expect(report.created.sort()).toEqual([
        `${p}.commands.default`,
        `${p}.commands.x`,
        `${p}.dead-letter`,
        `${p}.definitions`,
        `${p}.events`,
        `${p}.history`,
        `${p}.logs`,
        `${p}.runs`,
      ]);
      expect(report.partitions).toBe(3);
      expect((await transport.topicConfig(`${p}.runs`, ['cleanup.policy'])).get('cleanup.policy')).toBe('compact');
      // The history topic: deleted by age (7 days unless told otherwise), with the events topic's partitions.
      expect(Object.fromEntries(await transport.topicConfig(`${p}.history`, ['cleanup.policy', 'retention.ms']))).toEqual({
        'cleanup.policy': 'delete',
        'retention.ms': String(7 * 24 * 3600_000),
      });
      expect((await transport.partitionCounts([`${p}.history`])).get(`${p}.history`)).toBe(3);
      // Definitions are few and read whole: one partition, compacted, with room for a 2 MiB definition's record.
      expect(Object.fromEntries(await transport.topicConfig(`${p}.definitions`, ['cleanup.policy', 'max.message.bytes']))).toEqual({
        'cleanup.policy': 'compact',
        'max.message.bytes': String(8 * 1_048_576),
      });
      expect((await transport.partitionCounts([`${p}.definitions`])).get(`${p}.definitions`)).toBe(1);
      expect((await transport.ensureTopics({ prefix: p, partitions: 3 })).created).toEqual([]);
      await expect(transport.ensureTopics({ prefix: p, partitions: 0 })).rejects.toThrow(/partitions/);
    } finally {
      await transport.close();
    }
  });
});
