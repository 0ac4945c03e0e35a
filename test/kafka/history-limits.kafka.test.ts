// A history entry over its topic's record limit is never dropped: it is written reduced, saying what was left out
// and why, and a run whose entry does not fit even so fails with that reason. Against the real broker.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { HistoryRecord } from '../../src/core/protocol/history-record.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaOrchestrator, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { rawAdmin } from '../support/raw-kafka.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const two = sequence('two').then('t1', { queue: 'q' }).then('t2', { queue: 'q' }).build();

describe("history records over the history topic's limit", () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport(base);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await transport.close();
  });

  /** One partition; the history topic takes 64 KiB, the others the broker's ~1 MB. */
  async function deployment(
    blob: number,
  ): Promise<{ prefix: string; orchestrator: KafkaOrchestrator; client: LockstepClient; calls: string[] }> {
    const prefix = `hl-${randomUUID().slice(0, 8)}`;
    await transport.ensureTopics({ prefix, partitions: 1, queues: ['q'] });
    const admin = await rawAdmin(brokers);
    await admin
      .alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: topicNames(prefix).history, configEntries: [{ name: 'max.message.bytes', value: '65536' }] }],
      })
      .finally(() => admin.disconnect());
    const registry = new ProgramRegistry();
    registry.register(two, { definition: definitionText(two), hash: sha256Hex(definitionText(two)) });
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry });
    closers.push(orchestrator);
    const calls: string[] = [];
    const worker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: { t1: () => (calls.push('t1'), { blob: 'x'.repeat(blob) }), t2: () => (calls.push('t2'), 'two') },
    });
    closers.push({ close: () => worker.close({ graceMs: 100 }) });
    const client = createLockstepClient({ ...base, prefix });
    closers.push(client);
    return { prefix, orchestrator, client, calls };
  }

  const historyOf = async (prefix: string, runId: string) =>
    (await transport.readPartitions(topicNames(prefix).history, [0]))
      .filter((r) => r.key === runId)
      .map((r) => JSON.parse(r.value!) as HistoryRecord);

  it('writes an entry that fits without its machine event without it, says so, and the run goes on', async () => {
    const d = await deployment(40_000);
    const runId = await d.client.start('two');
    const final = await d.client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('succeeded');
    expect(d.calls).toEqual(['t1', 't2']);
    const records = await historyOf(d.prefix, runId);
    expect(records.map((r) => `${r.seq} ${r.entry.type}`)).toEqual([
      '0 run.started',
      '1 task.started',
      '2 task.succeeded',
      '3 task.started',
      '4 task.succeeded',
      '5 run.succeeded',
    ]);
    const reduced = records[2]!;
    expect(reduced.reduced).toMatchObject({ dropped: ['entry.event'] });
    expect(reduced.reduced!.reason).toMatch(
      new RegExp(
        `^run\\.entry record 2 \\(task\\.succeeded\\) of run ${runId} is 80,\\d{3} bytes, over the 65,280-byte limit of ${d.prefix}\\.history$`,
      ),
    );
    expect(reduced.entry).toMatchObject({ type: 'task.succeeded', task: 't1', result: { blob: 'x'.repeat(40_000) } });
    expect('event' in reduced.entry).toBe(false);
    expect(records.filter((r) => r.reduced)).toHaveLength(1);
    expect(d.orchestrator.orchestrator.stats.oversized).toBeGreaterThanOrEqual(1);
  });

  it('fails the run when an entry does not fit even so, naming the record; the entry is written without its data', async () => {
    const d = await deployment(70_000);
    const runId = await d.client.start('two');
    const final = await d.client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    // t2 was dispatched in the batch that recorded t1's result: that dispatch never went out.
    expect(d.calls).toEqual(['t1']);
    expect(final.final!.reason).toMatch(
      new RegExp(
        `^task t2 failed: run\\.entry record 2 \\(task\\.succeeded\\) of run ${runId}, without entry\\.event, is 70,\\d{3} bytes, over the 65,280-byte limit of ${d.prefix}\\.history$`,
      ),
    );
    const records = await historyOf(d.prefix, runId);
    expect(records.map((r) => `${r.seq} ${r.entry.type}`)).toEqual([
      '0 run.started',
      '1 task.started',
      '2 task.succeeded',
      '3 task.started',
      '4 task.failed',
      '5 run.failed',
    ]);
    expect(records[2]!.reduced).toMatchObject({ dropped: ['entry.event', 'entry.result'] });
    expect(records[2]!.entry).toEqual({
      type: 'task.succeeded',
      runId,
      at: expect.any(Number),
      task: 't1',
      attempt: 1,
      phase: 'main',
      durationMs: expect.any(Number),
    });
    expect(records[4]!.entry).toMatchObject({ task: 't2', error: { code: 'RECORD_TOO_LARGE', retriable: false } });
    // The run's state fits its topic, results and all.
    expect(final.reduced).toBeUndefined();
    expect((final.snapshot.context as { results: Record<string, unknown> }).results).toEqual({ t1: { blob: 'x'.repeat(70_000) } });
  });

  it('a history record the broker refuses (its limit lowered after the orchestrator started) is written reduced, and its run fails', async () => {
    // t1's entry (~50 KB) fits the limit the orchestrator read; not the one the broker holds by then.
    const d = await deployment(25_000);
    // The orchestrator read 64 KiB at start; from now on the history topic takes 20 KB.
    const admin = await rawAdmin(brokers);
    await admin
      .alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: topicNames(d.prefix).history, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }],
      })
      .finally(() => admin.disconnect());
    const runId = await d.client.start('two');
    const final = await d.client.wait(runId, { timeoutMs: 60_000 });
    expect(final.status).toBe('failed');
    expect(final.final!.reason).toMatch(/^task t2 failed: RECORD_TOO_LARGE: .*\.history refused the record with key/);
    expect(d.orchestrator.orchestrator.stats.refused).toBe(1);
    expect(d.calls).toEqual(['t1']);
    const records = await historyOf(d.prefix, runId);
    expect(records.map((r) => `${r.seq} ${r.entry.type}`)).toEqual([
      '0 run.started',
      '1 task.started',
      '2 task.succeeded',
      '3 task.started',
      '4 task.failed',
      '5 run.failed',
    ]);
    expect(records[2]!.reduced).toMatchObject({ dropped: ['entry.event', 'entry.result'] });
    expect(records[2]!.reduced!.reason).toMatch(/^RECORD_TOO_LARGE: /);
  });
});
