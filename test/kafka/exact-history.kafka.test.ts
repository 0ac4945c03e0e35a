// Kafka mode keeps exact history: every entry embedded mode records goes to <prefix>.history, numbered, with the
// state after it, in the transaction of the batch that produced it. Against the real broker.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { HistoryRecord } from '../../src/core/protocol/history-record.js';
import { parseHistoryRecord } from '../../src/core/protocol/history-record.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { Sequence, TaskContext } from '../../src/core/sequence/types.js';
import { createEmbeddedRuntime, definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaOrchestrator, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { rawAdmin } from '../support/raw-kafka.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

// A retry (a fails once), a compensation (b is undone when c fails) and a finally task (f).
const exact = (backoff: string): Sequence =>
  sequence('exact')
    .then('a', { queue: 'q' }, { retry: { maxAttempts: 2, backoff: { initial: backoff, factor: 1 } } })
    .then('b', { queue: 'q' }, { compensate: { queue: 'q' } })
    .then('c', { queue: 'q' })
    .finally('f', { queue: 'q' })
    .build();

/** The same outcomes in both modes, whatever runs the task. */
function handle(ctx: TaskContext): unknown {
  switch (ctx.taskId) {
    case 'a':
      if (ctx.attempt === 1) throw new Error('transient');
      return { a: ctx.attempt };
    case 'b':
      return { b: 2 };
    case 'b.compensate':
      return 'undone';
    case 'c':
      throw new Error('c broke');
    default:
      return 'cleaned';
  }
}

function registryOf(s: Sequence): ProgramRegistry {
  const registry = new ProgramRegistry();
  registry.register(s, { definition: definitionText(s), hash: sha256Hex(definitionText(s)) });
  return registry;
}

/** An entry without what depends on the clock. */
function timeless(entry: RunEntry): Record<string, unknown> {
  const { at: _at, durationMs: _durationMs, ...rest } = entry as RunEntry & { durationMs?: number };
  return rest;
}

/** What embedded mode records for a run of `s` with this id: its history and the state after each entry. */
async function embeddedHistory(s: Sequence, runId: string): Promise<{ entries: RunEntry[]; states: unknown[]; reported: unknown[] }> {
  const reported: unknown[] = [];
  const runtime = await createEmbeddedRuntime({ queueHandlers: { q: handle }, onEntry: (entry, state) => reported.push({ entry, state }) });
  try {
    runtime.register(s);
    await runtime.run({ sequence: s.name, runId, input: { order: 7 } });
    const stored = (await runtime.store.get(runId))!;
    return { entries: stored.history, states: [...(stored.states ?? [])], reported };
  } finally {
    await runtime.close();
  }
}

describe('exact history in Kafka mode', () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport(base);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await transport.close();
  });

  async function deployment(prefix: string, s: Sequence) {
    const registry = registryOf(s);
    const orchestrator = async () => {
      const o = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 2 });
      closers.push(o);
      return o;
    };
    const first = await orchestrator();
    const worker = await createWorker({ ...base, prefix, queue: 'q', handlers: { '*': handle } });
    closers.push({ close: () => worker.close({ graceMs: 100 }) });
    const client = createLockstepClient({ ...base, prefix });
    closers.push(client);
    return { first, orchestrator, client };
  }

  /** The run's committed records on the history topic, in topic order. */
  async function historyOf(prefix: string, runId: string): Promise<HistoryRecord[]> {
    const topic = topicNames(prefix).history;
    const partitions = (await transport.partitionCounts([topic])).get(topic)!;
    const records = await transport.readPartitions(
      topic,
      Array.from({ length: partitions }, (_, i) => i),
    );
    return records
      .filter((r) => r.key === runId)
      .map((r) => {
        const parsed = parseHistoryRecord(r.value!);
        if (!parsed.success) throw new Error(parsed.reason);
        return parsed.record;
      });
  }

  it('writes, for a run with a retry, a compensation and a finally task, the history embedded mode records, entry by entry', async () => {
    const s = exact('100ms');
    const prefix = `xh-${randomUUID().slice(0, 8)}`;
    const { client } = await deployment(prefix, s);
    const runId = `run-${randomUUID()}`;
    await client.start('exact', { runId, input: { order: 7 } });
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');

    const embedded = await embeddedHistory(s, runId);
    // The embedded run went the way this test means: a retry, a compensation, a finally task.
    expect(embedded.entries.map((e) => ('task' in e ? `${e.type} ${e.task}` : e.type))).toEqual([
      'run.started',
      'task.started a',
      'task.failed a',
      'timer.fired',
      'task.started a',
      'task.succeeded a',
      'task.started b',
      'task.succeeded b',
      'task.started c',
      'task.failed c',
      'task.started b.compensate',
      'task.succeeded b.compensate',
      'task.started f',
      'task.succeeded f',
      'run.failed',
    ]);
    // onEntry reported each entry with the state the store kept for it.
    expect(embedded.reported).toEqual(embedded.entries.map((entry, i) => ({ entry, state: embedded.states[i] })));
    expect(embedded.states.every((state) => state !== undefined)).toBe(true);

    const records = await historyOf(prefix, runId);
    expect(records.map((r) => r.seq)).toEqual(embedded.entries.map((_, i) => i));
    expect(records.map((r) => timeless(r.entry))).toEqual(embedded.entries.map(timeless));
    expect(records.map((r) => r.state)).toEqual(embedded.states);
    expect(records.every((r) => r.reduced === undefined)).toBe(true);
    // The final state says how many entries the run has.
    expect(final.entries).toBe(records.length);
  });

  it('goes on numbering where the run stood when another orchestrator restores it mid-run', async () => {
    const s = exact('1500ms');
    const prefix = `xh-${randomUUID().slice(0, 8)}`;
    const { first, orchestrator, client } = await deployment(prefix, s);
    const runId = `run-${randomUUID()}`;
    await client.start('exact', { runId, input: { order: 7 } });
    // The first attempt of a failed; its retry waits 1.5 s on a timer held by the first orchestrator.
    await expect
      .poll(() => client.status(runId).then((state) => Object.keys(state?.timers ?? {})), { timeout: 20_000 })
      .toContain('retry:a:1');
    const before = (await client.status(runId))!.entries!;
    expect(before).toBe(3);
    await first.close();
    closers.splice(closers.indexOf(first), 1);
    const second: KafkaOrchestrator = await orchestrator();
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    expect(second.orchestrator.stats.restored).toBeGreaterThanOrEqual(1);

    const records = await historyOf(prefix, runId);
    const embedded = await embeddedHistory(s, runId);
    expect(records.map((r) => r.seq)).toEqual(embedded.entries.map((_, i) => i));
    expect(records.map((r) => timeless(r.entry))).toEqual(embedded.entries.map(timeless));
    expect(records.map((r) => r.state)).toEqual(embedded.states);
    expect(final.entries).toBe(records.length);
  });

  it('commits history records with their batch: an aborted transaction leaves none', async () => {
    const s = sequence('big').then('t1', { queue: 'q' }).then('t2', { queue: 'q' }).build();
    const prefix = `xh-${randomUUID().slice(0, 8)}`;
    const registry = registryOf(s);
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 1 });
    closers.push(orchestrator);
    const worker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: { t1: () => ({ blob: 'z'.repeat(100_000) }), t2: () => 'two' },
    });
    closers.push({ close: () => worker.close({ graceMs: 100 }) });
    const client: LockstepClient = createLockstepClient({ ...base, prefix });
    closers.push(client);
    // The orchestrator read ~1 MB at start; from now on the command topic takes 50 KB: the transaction that carries
    // t2's dispatch (with t1's 100 KB result) is refused and aborted, and its batch comes again.
    const admin = await rawAdmin(brokers);
    await admin
      .alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: topicNames(prefix).commands('q'), configEntries: [{ name: 'max.message.bytes', value: '50000' }] }],
      })
      .finally(() => admin.disconnect());
    const runId = `run-${randomUUID()}`;
    await client.start('big', { runId });
    const final = await client.wait(runId, { timeoutMs: 60_000 });
    expect(final.status).toBe('failed');
    expect(orchestrator.orchestrator.stats.refused).toBe(1);

    const committed = await historyOf(prefix, runId);
    expect(committed.map((r) => `${r.seq} ${r.entry.type}`)).toEqual([
      '0 run.started',
      '1 task.started',
      '2 task.succeeded',
      '3 task.started',
      '4 task.failed',
      '5 run.failed',
    ]);
    // Read uncommitted, the topic also holds the aborted transaction's records: the first take of seq 2 and 3.
    const all = await uncommitted(topicNames(prefix).history, runId, committed.length + 2);
    expect(all.map((r) => r.seq)).toEqual([0, 1, 2, 3, 2, 3, 4, 5]);
    expect(final.entries).toBe(6);
  });
});

/** The run's records of a one-partition topic as a read_uncommitted consumer sees them, once it has seen `count`. */
async function uncommitted(topic: string, runId: string, count: number): Promise<HistoryRecord[]> {
  const kafka = new kafkajs.Kafka({ brokers: [brokers], clientId: 'uncommitted', logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `uncommitted-${randomUUID()}`, readUncommitted: true, maxWaitTimeInMs: 100 });
  const seen: HistoryRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() === runId) seen.push(JSON.parse(message.value!.toString()) as HistoryRecord);
      },
    });
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
    return seen;
  } finally {
    await consumer.disconnect();
  }
}
