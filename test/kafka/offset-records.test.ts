// Kafka mode keeps each events partition's position as a partition.offset record on the run-state topic, written in
// the transaction of the batch it stands for. The group offset is only a hint: these tests make it lag (or lose it)
// and check that a new orchestrator still starts exactly where the committed run states stand.
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { ErrorCode } from '../../src/core/errors.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { parsePartitionOffset, partitionOffsetKey } from '../../src/core/protocol/partition-offset.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/embedded/embedded-runtime.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/kafka/index.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/kafka/index.js';
import { hashText } from '../../src/runtime/load-sequence.js';
import { ProgramRegistry } from '../../src/runtime/registry.js';
import { latestStates } from '../../src/runtime/run-state-topic.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const three = sequence('three').then('a', { queue: 'q' }).then('b', { queue: 'q' }).then('c', { queue: 'q' }).build();

describe('partition.offset records', () => {
  const prefix = `offsets-${randomUUID().slice(0, 8)}`;
  const group = `${prefix}-orchestrators`;
  const topics = topicNames(prefix);
  const registry = new ProgramRegistry();
  registry.register(three, { definition: definitionText(three), hash: hashText(definitionText(three)) });
  const calls: string[] = [];
  let transport: KafkaTransport;
  let admin: Admin;
  let client: LockstepClient;
  let worker: KafkaWorker;
  const orchestrators: KafkaOrchestrator[] = [];

  const orchestrator = async () => {
    const o = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 2 });
    orchestrators.push(o);
    return o;
  };
  const runAll = async (count: number) => {
    const ids = await Promise.all(Array.from({ length: count }, () => client.start('three')));
    const finals = await Promise.all(ids.map((id) => client.wait(id, { timeoutMs: 30_000 })));
    expect(finals.map((f) => f.status)).toEqual(ids.map(() => 'succeeded'));
    return ids;
  };
  const eventsEnd = async () => new Map((await admin.fetchTopicOffsets(topics.events)).map((o) => [o.partition, o.high]));
  const groupOffsets = async () => {
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topics.events] });
    return new Map(committed!.partitions.map((p) => [p.partition, p.offset]));
  };
  const offsetRecords = async () => {
    const records = await transport.readPartitions(topics.runs, [0, 1]);
    const found = new Map<number, { offset: string; partition: number }>();
    for (const r of records) {
      if (r.key !== partitionOffsetKey(group, r.partition)) continue;
      const parsed = parsePartitionOffset(r.value!);
      if (!parsed.success) throw new Error(parsed.reason);
      expect(parsed.record).toMatchObject({ v: 1, type: 'partition.offset', group, topic: topics.events, partition: r.partition });
      found.set(r.partition, { offset: parsed.record.offset, partition: r.partition });
    }
    return found;
  };

  beforeAll(async () => {
    transport = new KafkaTransport({ ...base, clientId: 'offset-records' });
    admin = await transport.admin();
    await orchestrator();
    worker = await createWorker({ ...base, prefix, queue: 'q', handlers: { '*': (ctx) => void calls.push(`${ctx.runId}:${ctx.taskId}`) } });
    client = createLockstepClient({ ...base, prefix });
  });
  afterAll(async () => {
    for (const o of orchestrators) await o.close().catch(() => {});
    await worker?.close({ graceMs: 100 }).catch(() => {});
    await client?.close();
    await transport?.close();
  });

  it('records, in the run-state topic, the position of every events partition the runs were committed at', async () => {
    await runAll(10);
    const end = await eventsEnd();
    // Each run's last event is applied before its final state is visible: the records are already at the end.
    const records = await offsetRecords();
    expect([...records.keys()].sort()).toEqual([0, 1]);
    for (const [p, r] of records) expect(r.offset).toBe(end.get(p));
    // The group offset follows as a hint, outside the transactions, within about a second.
    await expect.poll(async () => Object.fromEntries(await groupOffsets()), { timeout: 10_000 }).toEqual(Object.fromEntries(end));
    // Readers of run states skip the records.
    const { states, offsets, malformed } = latestStates(await transport.readPartitions(topics.runs, [0, 1]));
    expect(states.size).toBe(10);
    expect(offsets.size).toBe(2);
    expect(malformed).toBe(0);
  });

  it('a new orchestrator starts after the records even when the group offset was lost, and applies no event twice', async () => {
    const before = calls.length;
    await orchestrators[0]!.close();
    orchestrators.length = 0;
    // The group is empty now: set its offsets back to the beginning, as a lagging (or lost) hint would leave them.
    await admin.setOffsets({ groupId: group, topic: topics.events, partitions: [{ partition: 0, offset: '0' }, { partition: 1, offset: '0' }] });
    expect(Object.fromEntries(await groupOffsets())).toEqual({ 0: '0', 1: '0' });
    const second = await orchestrator();
    const ids = await runAll(3);
    // Had it started from the group offset, the 10 earlier runs' starts would count as duplicates and their 30
    // completions as late events.
    expect(second.orchestrator.stats).toMatchObject({ applied: 9, ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 }, deadLettered: 0 });
    expect(calls.slice(before).sort()).toEqual(ids.flatMap((id) => ['a', 'b', 'c'].map((t) => `${id}:${t}`)).sort());
    const end = await eventsEnd();
    for (const [p, r] of await offsetRecords()) expect(r.offset).toBe(end.get(p));
  });

  it('a group offset ahead of the records (written by an older lockstep) wins', async () => {
    await orchestrators[0]!.close();
    orchestrators.length = 0;
    // Events the records do not cover: two runs started while no orchestrator runs, and the group offset moved past
    // them, as a lockstep that committed group offsets in its transactions would have left it.
    const skipped = [`skipped-${randomUUID()}`, `skipped-${randomUUID()}`];
    for (const runId of skipped) await client.start('three', { runId });
    const end = await eventsEnd();
    await admin.setOffsets({ groupId: group, topic: topics.events, partitions: [...end].map(([partition, offset]) => ({ partition, offset })) });
    const third = await orchestrator();
    await runAll(2);
    expect(third.orchestrator.stats).toMatchObject({ applied: 6, ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 }, deadLettered: 0 });
    for (const runId of skipped) expect(await client.status(runId)).toBeUndefined();
  });

  it('refuses run ids in the reserved __lockstep. namespace', async () => {
    await expect(client.start('three', { runId: partitionOffsetKey(group, 0) })).rejects.toMatchObject({ code: ErrorCode.invalidUsage });
  });
});
