// Sequences made in code, in Kafka mode against the real broker: orchestrators get the sequences (and publish their
// structure), workers get the code and run the functions on their queues.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { parseDefinitionRecord } from '../../src/core/protocol/definition-record.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { sequenceText } from '../../src/core/sequence/sequence-text.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { kafkaExecutor } from '../../src/modes/kafka/worker-executors.js';
import type { DispatchedTask } from '../../src/runtime/worker.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const results = (state: RunState) => (state.snapshot.context as { results: Record<string, unknown> }).results;

/** Opens the gate of one run: its `hold` task waits for it. */
const gates = new Map<string, () => void>();
const held = (runId: string) => new Promise<void>((resolve) => gates.set(runId, resolve));

const flaky = new Map<string, number>();
const order = sequence('order', { version: 3 })
  .then('reserve', async (ctx: TaskContext) => ({ items: (ctx.input as { items: number }).items }), {
    compensate: async () => ({ released: true }),
  })
  .then('hold', async (ctx: TaskContext) => {
    await held(ctx.runId);
    return { held: true };
  })
  .then(
    'charge',
    async (ctx: TaskContext) => {
      flaky.set(ctx.runId, ctx.attempt);
      if (ctx.attempt === 1) throw new Error('gateway hiccup');
      return { charged: (ctx.results.reserve as { items: number }).items * 10 };
    },
    { queue: 'payments', retry: { maxAttempts: 2, backoff: { initial: '100ms' } } },
  )
  .then('label', { run: 'echo \'{"label":"ok"}\'' })
  .build();

describe('sequences made in code, in Kafka mode', () => {
  const prefix = `code-${randomUUID().slice(0, 8)}`;
  const open: Array<KafkaOrchestrator | KafkaWorker | LockstepClient> = [];
  const track = <T extends KafkaOrchestrator | KafkaWorker | LockstepClient>(c: T): T => (open.push(c), c);
  afterAll(async () => {
    for (const c of open.reverse()) await ('inFlight' in c ? c.close({ handBack: true }) : c.close()).catch(() => {});
  });

  it('runs the functions on workers of their queues, and an orchestrator without the code takes a run over', async () => {
    const first = track(await startKafkaOrchestrator({ ...base, prefix, sequences: [order], partitions: 2 }));
    const payments = track(await createWorker({ ...base, prefix, sequences: [order], queue: 'payments' }));
    const others = track(await createWorker({ ...base, prefix, sequences: [order], queue: 'default' }));
    const client = track(createLockstepClient({ ...base, prefix }));

    const runId = await client.start('order', { input: { items: 4 } });
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 30_000 }).toBe('hold');
    const state = (await client.status(runId))!;
    expect(state.definitionHash).toBe(sha256Hex(sequenceText(order)));

    // The orchestrator that started the run goes; one that has none of the code (nor any sequence) takes over.
    await first.close();
    open.splice(open.indexOf(first), 1);
    const second = track(await startKafkaOrchestrator({ ...base, prefix, registry: new ProgramRegistry() }));
    await expect.poll(() => second.orchestrator.stats.restored, { timeout: 30_000 }).toBe(1);
    gates.get(runId)!();

    const final = await client.wait(runId, { timeoutMs: 60_000 });
    expect(final.status).toBe('succeeded');
    expect(results(final)).toEqual({ reserve: { items: 4 }, hold: { held: true }, charge: { charged: 40 }, label: { label: 'ok' } });
    expect(flaky.get(runId)).toBe(2);
    // Both attempts of `charge` ran on the worker of its queue; the tasks that name none on the default queue's.
    expect(payments.stats).toMatchObject({ succeeded: 1, failed: 1 });
    expect(others.stats).toMatchObject({ succeeded: 3, failed: 0 });
  });

  it('publishes the structure, not the code: the definition compiles without the functions', async () => {
    const transport = new KafkaTransport(base);
    try {
      const records = await transport.readPartitions(topicNames(prefix).definitions, [0]);
      expect(records.map((r) => r.key)).toContain(sha256Hex(sequenceText(order)));
      const parsed = parseDefinitionRecord(records.find((r) => r.key === sha256Hex(sequenceText(order)))!.value!);
      expect(parsed.success && parsed.record).toMatchObject({ sequence: 'order', version: '3', definition: sequenceText(order) });
      const structure = JSON.parse(sequenceText(order)) as { tasks: Array<Record<string, unknown>> };
      expect(structure.tasks.map(({ id, queue, run }) => ({ id, queue, run }))).toEqual([
        { id: 'reserve', queue: 'default', run: undefined },
        { id: 'hold', queue: 'default', run: undefined },
        { id: 'charge', queue: 'payments', run: undefined },
        { id: 'label', queue: undefined, run: 'echo \'{"label":"ok"}\'' },
      ]);
      expect(sequenceText(order)).not.toMatch(/gateway hiccup|=>/);
    } finally {
      await transport.close();
    }
  });

  it('a function task without a worker for its queue waits for one: the orchestrator never runs code', async () => {
    const own = `code-${randomUUID().slice(0, 8)}`;
    const alone = sequence('alone')
      .then('only', async () => 'done', { queue: 'elsewhere' })
      .build();
    const o = track(await startKafkaOrchestrator({ ...base, prefix: own, sequences: [alone], partitions: 1 }));
    const client = track(createLockstepClient({ ...base, prefix: own }));
    const runId = await client.start('alone');
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 30_000 }).toBe('only');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await client.status(runId))?.status).toBe('running');
    const worker = track(await createWorker({ ...base, prefix: own, sequences: [alone] }));
    expect(worker.queues).toEqual(['elsewhere']);
    expect((await client.wait(runId, { timeoutMs: 30_000 })).status).toBe('succeeded');
    expect(o.orchestrator.stats.applied).toBeGreaterThanOrEqual(1);
  });

  it("takes every queue of the sequences' functions and shell tasks when given none", async () => {
    const worker = track(await createWorker({ ...base, prefix, sequences: [order] }));
    expect(worker.queues).toEqual(['default', 'payments']);
    expect(worker.stats).toEqual({ started: 0, succeeded: 0, failed: 0, duplicates: 0, cancelled: 0, handedBack: 0 });
  });

  it('runs the function a worker has now for a run whose structure its code no longer has', async () => {
    const changed = sequence('order', { version: 3 })
      .then('reserve', async () => ({ items: 'new code' }))
      .then('extra', async () => 1)
      .build();
    const registry = new ProgramRegistry();
    registry.registerSequence(changed);
    const transport = new KafkaTransport(base);
    try {
      const execute = kafkaExecutor({ transport, prefix, registry });
      const dispatch = (taskId: string) =>
        ({
          v: 1,
          type: 'task.dispatch',
          id: randomUUID(),
          runId: 'r',
          taskId,
          attempt: 1,
          time: new Date().toISOString(),
          payload: {
            sequence: 'order',
            version: '3',
            definitionHash: sha256Hex(sequenceText(order)),
            phase: 'main',
            idempotencyKey: `r:${taskId}:1`,
            queue: 'default',
            input: null,
            results: {},
          },
        }) as DispatchedTask;
      const signal = () => new AbortController().signal;
      await expect(execute(dispatch('reserve'), signal)).resolves.toEqual({ items: 'new code' });
      await expect(execute(dispatch('hold'), signal)).rejects.toMatchObject({
        retriable: false,
        message: expect.stringContaining(
          'no handler for task "hold" of order v3 on queue default: run it on a worker with the sequence\'s code',
        ),
      });
    } finally {
      await transport.close();
    }
  });

  it('says what is missing when it is given no sequences', async () => {
    await expect(startKafkaOrchestrator({ ...base, prefix })).rejects.toThrow(/needs sequences to run: pass `sequences`/);
    await expect(createWorker({ ...base, prefix })).rejects.toThrow(/needs sequences, handlers or execute/);
    await expect(createWorker({ ...base, prefix, handlers: {} })).rejects.toThrow(/needs the queue/);
  });
});
