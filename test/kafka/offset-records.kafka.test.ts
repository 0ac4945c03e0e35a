// Kafka mode keeps each events partition's position as a partition.offset record on the run-state topic, written in
// the transaction of the batch it stands for. The group offset is only a hint: these tests make it lag (or lose it)
// and check that a new orchestrator still starts exactly where the committed run states stand.
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { ErrorCode } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { parsePartitionOffset, partitionOffsetKey } from '../../src/core/protocol/partition-offset.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { latestStates } from '../../src/runtime/journals/kafka/run-state-topic.js';
import { rawAdmin } from '../support/raw-kafka.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const three = sequence('three').then('a', { queue: 'q' }).then('b', { queue: 'q' }).then('c', { queue: 'q' }).build();

describe('partition.offset records', () => {
  const registry = new ProgramRegistry();
  registry.register(three, { definition: definitionText(three), hash: sha256Hex(definitionText(three)) });
  const calls: string[] = [];
  const closers: Array<{ close(): Promise<void> }> = [];
  let transport: KafkaTransport;
  let admin: Admin;

  beforeAll(async () => {
    transport = new KafkaTransport({ ...base, clientId: 'offset-records' });
    admin = await rawAdmin(brokers);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await admin?.disconnect();
    await transport?.close();
  });

  /** An orchestrator group of its own (2 partitions), a worker and a client. */
  const setup = async () => {
    const prefix = `offsets-${randomUUID().slice(0, 8)}`;
    const group = `${prefix}-orchestrators`;
    const topics = topicNames(prefix);
    const orchestrator = async () => {
      const o = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 2 });
      closers.push(o);
      return o;
    };
    const first = await orchestrator();
    const worker: KafkaWorker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: { '*': (ctx) => void calls.push(`${ctx.runId}:${ctx.taskId}`) },
    });
    const client: LockstepClient = createLockstepClient({ ...base, prefix });
    closers.push(client, { close: () => worker.close({ graceMs: 100 }) });
    const runAll = async (count: number) => {
      const ids = await Promise.all(Array.from({ length: count }, () => client.start('three')));
      const finals = await Promise.all(ids.map((id) => client.wait(id, { timeoutMs: 30_000 })));
      expect(finals.map((f) => f.status)).toEqual(ids.map(() => 'succeeded'));
      return ids;
    };
    /** The events topic's end, for the partitions that hold events. */
    const eventsEnd = async () =>
      new Map((await admin.fetchTopicOffsets(topics.events)).filter((o) => o.high !== '0').map((o) => [o.partition, o.high]));
    const groupOffsets = async () => {
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topics.events] });
      return new Map(committed!.partitions.filter((p) => p.offset !== '-1').map((p) => [p.partition, p.offset]));
    };
    const offsetRecords = async () => {
      const found = new Map<number, string>();
      for (const r of await transport.readPartitions(topics.runs, [0, 1])) {
        if (r.key !== partitionOffsetKey(group, r.partition)) continue;
        const parsed = parsePartitionOffset(r.value!);
        if (!parsed.success) throw new Error(parsed.reason);
        expect(parsed.record).toMatchObject({ v: 1, type: 'partition.offset', group, topic: topics.events, partition: r.partition });
        found.set(r.partition, parsed.record.offset);
      }
      return found;
    };
    /** Stops the group's orchestrators; the group is then empty. */
    const stop = async (o: KafkaOrchestrator) => {
      await o.close();
      closers.splice(closers.indexOf(o), 1);
    };
    return { group, topics, first, orchestrator, client, runAll, eventsEnd, groupOffsets, offsetRecords, stop };
  };

  it('records, in the run-state topic, the position of every events partition the runs were committed at', async () => {
    const g = await setup();
    await g.runAll(10);
    const end = await g.eventsEnd();
    // Each run's last event is applied before its final state is visible: the records are already at the end.
    expect(Object.fromEntries(await g.offsetRecords())).toEqual(Object.fromEntries(end));
    // The group offset follows as a hint, outside the transactions, within about a second.
    await expect.poll(async () => Object.fromEntries(await g.groupOffsets()), { timeout: 10_000 }).toEqual(Object.fromEntries(end));
    // Readers of run states skip the records.
    const { states, offsets, malformed } = latestStates(await transport.readPartitions(g.topics.runs, [0, 1]));
    expect(states.size).toBe(10);
    expect(offsets.size).toBe(end.size);
    expect(malformed).toEqual([]);
  });

  it('a new orchestrator starts after the records even when the group offset was lost, and applies no event twice', async () => {
    const g = await setup();
    await g.runAll(10);
    await g.stop(g.first);
    const before = calls.length;
    // The group is empty now: set its offsets back to the beginning, as a lagging (or lost) hint would leave them.
    await admin.setOffsets({
      groupId: g.group,
      topic: g.topics.events,
      partitions: [
        { partition: 0, offset: '0' },
        { partition: 1, offset: '0' },
      ],
    });
    expect(Object.fromEntries(await g.groupOffsets())).toEqual({ 0: '0', 1: '0' });
    const second = await g.orchestrator();
    const ids = await g.runAll(3);
    // Had it started from the group offset, the 10 earlier runs' starts would count as duplicates and their 30
    // completions as late events.
    expect(second.orchestrator.stats).toMatchObject({
      applied: 9,
      ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 },
      deadLettered: 0,
    });
    expect(calls.slice(before).sort()).toEqual(ids.flatMap((id) => ['a', 'b', 'c'].map((t) => `${id}:${t}`)).sort());
    expect(Object.fromEntries(await g.offsetRecords())).toEqual(Object.fromEntries(await g.eventsEnd()));
  });

  it('an orchestrator that leaves the group commits the group offset up to its records first', async () => {
    const g = await setup();
    await g.runAll(4);
    await g.stop(g.first);
    expect(Object.fromEntries(await g.groupOffsets())).toEqual(Object.fromEntries(await g.eventsEnd()));
  });

  it('starts after a group offset that is ahead of the records', async () => {
    const g = await setup();
    await g.runAll(2);
    await g.stop(g.first);
    // Events the records do not cover: two runs started while no orchestrator runs, and the group offset moved
    // past them (an operator skipping them with kafka-consumer-groups --reset-offsets, say).
    const skipped = [`skipped-${randomUUID()}`, `skipped-${randomUUID()}`];
    for (const runId of skipped) await g.client.start('three', { runId });
    const end = await g.eventsEnd();
    await admin.setOffsets({
      groupId: g.group,
      topic: g.topics.events,
      partitions: [...end].map(([partition, offset]) => ({ partition, offset })),
    });
    const second = await g.orchestrator();
    await g.runAll(2);
    expect(second.orchestrator.stats).toMatchObject({
      applied: 6,
      ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 },
      deadLettered: 0,
    });
    for (const runId of skipped) expect(await g.client.status(runId)).toBeUndefined();
  });

  it('refuses run ids in the reserved __lockstep. namespace, from the client and from the orchestrator', async () => {
    const g = await setup();
    const reserved = partitionOffsetKey(g.group, 0);
    await expect(g.client.start('three', { runId: reserved })).rejects.toMatchObject({ code: ErrorCode.invalidUsage });
    await expect(g.first.orchestrator.startRun({ sequence: 'three', runId: reserved })).rejects.toMatchObject({
      code: ErrorCode.invalidUsage,
    });
  });
});
