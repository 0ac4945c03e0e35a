// The client's waits, watches and status over the real broker: all through one subscription per client, however
// many runs are awaited, with runs that ended long ago found by reading their partition again.
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { rawAdmin } from '../support/raw-kafka.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

function registryOf(...sequences: Sequence[]): ProgramRegistry {
  const registry = new ProgramRegistry();
  for (const s of sequences) registry.register(s, { definition: definitionText(s), hash: sha256Hex(definitionText(s)) });
  return registry;
}

const quick = sequence('quick').then('a', { queue: 'q' }).then('b', { queue: 'q' }).build();
const gated = sequence('gated').then('first', { queue: 'q' }).then('hold', { queue: 'q' }).then('last', { queue: 'q' }).build();

describe('client waits through one subscription', () => {
  const prefix = `cw-${randomUUID().slice(0, 8)}`;
  const gates = new Map<string, () => void>();
  let orchestrator: KafkaOrchestrator;
  let worker: KafkaWorker;
  let admin: Admin;
  const clients: LockstepClient[] = [];
  const clientOf = (clientId: string) => {
    const c = createLockstepClient({ ...base, prefix, clientId });
    clients.push(c);
    return c;
  };
  /** The consumer groups a client's subscription made. */
  const groupsOf = async (clientId: string) =>
    (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${clientId}-`));
  const gate = (runId: string) => new Promise<void>((resolve) => gates.set(runId, resolve));
  const open = async (runId: string) => {
    while (!gates.has(runId)) await new Promise((r) => setTimeout(r, 20));
    gates.get(runId)?.();
  };

  beforeAll(async () => {
    admin = await rawAdmin(brokers);
    orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry: registryOf(quick, gated), partitions: 4 });
    worker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: {
        a: () => 1,
        b: () => 2,
        first: () => 'first',
        hold: (ctx) => gate(ctx.runId).then(() => 'held'),
        last: () => 'last',
      },
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await worker?.close({ graceMs: 100 }).catch(() => {});
    await orchestrator?.close().catch(() => {});
    await admin?.disconnect();
  });

  it('waits for 200 runs with one consumer group, and answers their final states in the order given', async () => {
    const id = `cw-all-${randomUUID().slice(0, 8)}`;
    const client = clientOf(id);
    const runIds = await Promise.all(Array.from({ length: 200 }, (_, i) => client.start('quick', { input: { i } })));
    const finals = await client.waitAll(runIds, { timeoutMs: 90_000 });
    expect(finals.map((f) => f.runId)).toEqual(runIds);
    expect(finals.every((f) => f.status === 'succeeded')).toBe(true);
    expect(await groupsOf(id)).toHaveLength(1);
  }, 120_000);

  it('answers a wait on a run that ended before the client existed by reading its partition again, with no new group', async () => {
    const starter = clientOf(`cw-start-${randomUUID().slice(0, 8)}`);
    const ended = await Promise.all(Array.from({ length: 5 }, () => starter.start('quick')));
    await starter.waitAll(ended, { timeoutMs: 60_000 });

    const id = `cw-late-${randomUUID().slice(0, 8)}`;
    const late = clientOf(id);
    const first = await late.wait(ended[0]!, { timeoutMs: 30_000 });
    expect(first).toMatchObject({ runId: ended[0], status: 'succeeded' });
    const groups = await groupsOf(id);
    expect(groups).toHaveLength(1);
    const times: number[] = [];
    for (const runId of ended.slice(1)) {
      const t0 = performance.now();
      expect((await late.wait(runId, { timeoutMs: 30_000 })).status).toBe('succeeded');
      times.push(performance.now() - t0);
      // Asked again: answered from what the client read.
      expect((await late.wait(runId)).status).toBe('succeeded');
    }
    expect(await groupsOf(id)).toEqual(groups);
    // status is a point lookup on the same subscription too: a known run, and one nobody started.
    expect(await late.status(ended[1]!)).toMatchObject({ runId: ended[1], status: 'succeeded' });
    expect(await late.status(randomUUID())).toBeUndefined();
    expect(await groupsOf(id)).toEqual(groups);
    expect(times).toHaveLength(4);
  }, 120_000);

  it('status follows a live run through the same subscription', async () => {
    const client = clientOf(`cw-status-${randomUUID().slice(0, 8)}`);
    const runId = await client.start('gated');
    let state = await client.status(runId);
    while (state?.snapshot.context.results === undefined || !('first' in (state.snapshot.context.results as object)))
      state = await client.status(runId);
    expect(state).toMatchObject({ runId, status: 'running' });
    await open(runId);
    expect((await client.wait(runId, { timeoutMs: 30_000 })).status).toBe('succeeded');
    expect(await client.status(runId)).toMatchObject({ status: 'succeeded' });
  }, 60_000);

  it('gives up a wait at its timeout or signal with WAIT_TIMEOUT, and the run and the client go on', async () => {
    const client = clientOf(`cw-timeout-${randomUUID().slice(0, 8)}`);
    const runId = await client.start('gated');
    await expect(client.wait(runId, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'WAIT_TIMEOUT', retriable: true });
    const stop = new AbortController();
    const stopped = client.wait(runId, { signal: stop.signal });
    setTimeout(() => stop.abort(), 100);
    await expect(stopped).rejects.toMatchObject({ code: 'WAIT_TIMEOUT', message: expect.stringContaining('waiting was stopped') });
    const aborted = AbortSignal.abort();
    await expect(client.wait(runId, { signal: aborted })).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' });
    await open(runId);
    expect((await client.wait(runId, { timeoutMs: 30_000 })).status).toBe('succeeded');
  }, 60_000);

  it('watch yields a live run’s history in order, each entry once, and ends after the final entry', async () => {
    const client = clientOf(`cw-watch-${randomUUID().slice(0, 8)}`);
    const runId = await client.start('gated');
    const seen: Array<{ seq: number; type: string }> = [];
    const watching = (async () => {
      for await (const record of client.watch(runId, { timeoutMs: 60_000 })) seen.push({ seq: record.seq, type: record.entry.type });
    })();
    // The run holds on its second task until the watch has seen the first one end.
    while (!seen.some((s) => s.type === 'task.succeeded')) await new Promise((r) => setTimeout(r, 20));
    await open(runId);
    await watching;
    expect(seen.map((s) => s.seq)).toEqual(seen.map((_, i) => i));
    expect(seen.at(-1)?.type).toBe('run.succeeded');
    const history = await client.history(runId);
    expect(seen.map((s) => s.type)).toEqual(history?.entries.map((e) => e.type));
    // A watch on a run that ended already replays it whole, and `break` stops a watch early.
    const replay: string[] = [];
    for await (const record of client.watch(runId)) replay.push(record.entry.type);
    expect(replay).toEqual(seen.map((s) => s.type));
    for await (const record of client.watch(runId)) {
      expect(record.seq).toBe(0);
      break;
    }
  }, 90_000);
});
