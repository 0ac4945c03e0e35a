// A partition holding many live runs, parked mid-sequence, taken over by a new orchestrator: every run is restored
// once, where it stood, and goes on to its end with each task run once. (bench:restore times it at 10,000 runs.)
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { sequence } from '../../src/core/sequence/builder.js';
import type { KafkaOrchestrator, KafkaWorker } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const, tracer: false as const };
const RUNS = 300;

const park = sequence('park').then('a', { queue: 'q' }).then('b', { queue: 'q' }).then('hold', { queue: 'parked' }).build();

describe('restoring a partition of many live runs', () => {
  const prefix = `many-${randomUUID().slice(0, 8)}`;
  const closers: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
  });

  it('restores every parked run where it stood, and each goes on to its end running every task once', async () => {
    const calls = new Map<string, string[]>();
    const record = (runId: string, task: string) => calls.set(runId, [...(calls.get(runId) ?? []), task]);
    let parked = 0;
    const first: KafkaOrchestrator = await startKafkaOrchestrator({
      ...base,
      prefix,
      sequences: [park],
      partitions: 1,
      metrics: {
        observe: (e) => void (e.type === 'task.started' && e.task === 'hold' && parked++),
        watch() {},
        watchRunsInFlight() {},
        watchLag() {},
      },
    });
    const client = createLockstepClient({ ...base, prefix });
    const worker: KafkaWorker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: { '*': (ctx) => record(ctx.runId, ctx.taskId) },
    });
    closers.push(client, worker);
    const ids = await Promise.all(Array.from({ length: RUNS }, () => client.start('park')));
    await expect.poll(() => parked, { timeout: 60_000, interval: 200 }).toBe(RUNS);
    await first.close();

    const second = await startKafkaOrchestrator({ ...base, prefix, sequences: [park] });
    closers.push(second);
    await expect.poll(() => second.orchestrator.stats.restored, { timeout: 30_000, interval: 100 }).toBe(RUNS);
    expect(second.orchestrator.activeRuns).toBe(RUNS);
    expect(second.orchestrator.stats.restoreFailed).toBe(0);
    const parkedWorker = await createWorker({
      ...base,
      prefix,
      queue: 'parked',
      handlers: { '*': (ctx) => record(ctx.runId, ctx.taskId) },
    });
    closers.push(parkedWorker);
    const finals = await Promise.all(ids.map((id) => second.orchestrator.waitFor(id)));
    expect(finals.map((f) => f.outcome)).toEqual(ids.map(() => 'succeeded'));
    for (const id of ids) expect(calls.get(id)).toEqual(['a', 'b', 'hold']);
  });
});
