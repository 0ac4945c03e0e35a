// No message wedges a partition: poison input, oversized run states and dispatches, records the broker refuses, and
// run states that cannot be restored, against the real broker, with plain kafkajs producers and a plain kafkajs
// worker (not lockstep's SDK).
import { createHash, randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import type { DeadLetter } from '../../src/core/protocol/envelope.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { KafkaOrchestrator, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { lockstep } from '../support/cli.js';
import { registryOf } from '../support/code-registry.js';
import { rawAdmin } from '../support/raw-kafka.js';

const { Kafka, Partitioners, logLevel } = kafkajs;
const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const quick = sequence('quick').then('one', { queue: 'q' }).then('two', { queue: 'q' }).build();
const big = sequence('big').then('t1', { queue: 'q' }).then('t2', { queue: 'q' }).then('t3', { queue: 'q' }).build();
const comp = sequence('comp')
  .then('c1', { queue: 'q' }, { compensate: { queue: 'q' } })
  .then('c2', { queue: 'q' })
  .then('c3', { queue: 'q' })
  .finally('fin', { queue: 'q' })
  .build();
const registry = registryOf(quick, big, comp);

const plain = new Kafka({ brokers: [brokers], clientId: 'plain', logLevel: logLevel.NOTHING });

/** A plain kafkajs producer with the murmur2 partitioner, as the README asks of other languages. */
async function plainProducer() {
  const producer = plain.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

interface Dispatch {
  runId: string;
  taskId: string;
  attempt: number;
  payload: { results: Record<string, unknown> };
}

/** What a {@link plainWorker}'s answer function returns to leave a dispatch unanswered. */
const UNANSWERED = Symbol('unanswered');

/** A worker written against the wire protocol only: reads dispatches, answers each with `result(dispatch)`. */
async function plainWorker(prefix: string, result: (d: Dispatch) => unknown) {
  const seen: string[] = [];
  const consumer = plain.consumer({ groupId: `${prefix}-plain-worker`, maxWaitTimeInMs: 50 });
  const producer = await plainProducer();
  await consumer.connect();
  await consumer.subscribe({ topic: topicNames(prefix).commands('q'), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const task = JSON.parse(message.value!.toString()) as Dispatch & { type: string };
      if (task.type !== 'task.dispatch') return;
      seen.push(`${task.runId}:${task.taskId}`);
      const answer = result(task);
      if (answer === UNANSWERED) return;
      const value = JSON.stringify({
        v: 1,
        type: 'task.succeeded',
        id: randomUUID(),
        runId: task.runId,
        taskId: task.taskId,
        attempt: task.attempt,
        time: new Date().toISOString(),
        payload: { result: answer },
      });
      await producer.send({ topic: topicNames(prefix).events, messages: [{ key: task.runId, value }] });
    },
  });
  return {
    seen,
    async close() {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

/** Creates a prefix's topics, one partition each (so every run shares it), with `config` per topic suffix. */
async function createTopics(prefix: string, config: Partial<Record<'events' | 'runs' | 'dead-letter' | 'commands.q', number>> = {}) {
  const suffixes = ['events', 'runs', 'dead-letter', 'commands.q', 'commands.default'] as const;
  const admin = await rawAdmin(brokers);
  await admin
    .createTopics({
      waitForLeaders: true,
      topics: suffixes.map((s) => {
        const bytes = (config as Record<string, number | undefined>)[s];
        const entries = [
          ...(s === 'runs' ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
          ...(bytes ? [{ name: 'max.message.bytes', value: String(bytes) }] : []),
        ];
        return { topic: `${prefix}.${s}`, numPartitions: 1, replicationFactor: 1, configEntries: entries };
      }),
    })
    .finally(() => admin.disconnect());
}

async function deadLetters(transport: KafkaTransport, prefix: string): Promise<DeadLetter[]> {
  return (await transport.readPartitions(topicNames(prefix).deadLetter, [0])).map((r) => JSON.parse(r.value!) as DeadLetter);
}

const results = (state: { snapshot: { context: Record<string, unknown> } }) => state.snapshot.context.results as Record<string, unknown>;

describe('no message wedges a partition', () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport(base);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await transport.close();
  });

  async function deployment(prefix: string, answer: (d: Dispatch) => unknown, config?: Parameters<typeof createTopics>[1]) {
    await createTopics(prefix, config);
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry });
    closers.push(orchestrator);
    const worker = await plainWorker(prefix, answer);
    closers.push(worker);
    const client = createLockstepClient({ ...base, prefix });
    closers.push(client);
    return { orchestrator, worker, client };
  }

  describe('at the broker defaults (max.message.bytes ~1 MB)', () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    let d: { orchestrator: KafkaOrchestrator; worker: Awaited<ReturnType<typeof plainWorker>>; client: LockstepClient };
    beforeAll(async () => {
      d = await deployment(prefix, (task) =>
        task.taskId === 't1' || task.taskId === 't2' ? { blob: 'x'.repeat(600_000) } : { ok: task.taskId },
      );
    });

    it('a ~900 KB message of "" elements is dead-lettered with a prefix, its size, sha256 and reason, and the partition goes on', async () => {
      const poison = JSON.stringify(Array.from({ length: 300_000 }, () => ''));
      expect(poison.length).toBe(900_001);
      const producer = await plainProducer();
      const [sent] = await producer.send({ topic: topicNames(prefix).events, messages: [{ key: 'poison', value: poison }] });
      await producer.disconnect();
      // Runs started after it, on the same (only) partition, finish.
      const runIds = await Promise.all([1, 2, 3].map(() => d.client.start('quick')));
      for (const runId of runIds) expect((await d.client.wait(runId, { timeoutMs: 30_000 })).status).toBe('succeeded');
      const letters = (await deadLetters(transport, prefix)).filter((l) => l.source.offset === sent!.baseOffset);
      expect(letters).toHaveLength(1);
      const letter = letters[0]!;
      expect(letter.reason).toBe('not a lockstep message: (root): expected object, got a list');
      expect(letter).toMatchObject({
        rawBytes: 900_001,
        rawSha256: sha256(poison),
        rawTruncated: true,
        source: { topic: topicNames(prefix).events, partition: 0 },
      });
      expect(poison.startsWith(letter.raw)).toBe(true);
      expect(Buffer.byteLength(letter.raw)).toBe(16 * 1024);
      expect(d.orchestrator.orchestrator.stats.deadLettered).toBe(1);
    });

    it('a run whose two 600 KB results would make a 1.2 MB dispatch and state fails with the reason, shown by `lockstep status`; other runs go on', async () => {
      const runId = await d.client.start('big');
      const final = await d.client.wait(runId, { timeoutMs: 30_000 });
      expect(final.status).toBe('failed');
      // t3 was never dispatched: its dispatch would have carried both results.
      expect(d.worker.seen.filter((s) => s.startsWith(runId))).toEqual([`${runId}:t1`, `${runId}:t2`]);
      expect(final.final).toMatchObject({ failedTasks: ['t3'] });
      expect(final.final!.reason).toMatch(
        new RegExp(
          `^task t3 failed: task\\.dispatch record of task t3 attempt 1 is 1,200,\\d{3} bytes, over the 1,048,\\d{3}-byte limit of ${prefix}\\.commands\\.q$`,
        ),
      );
      // Its state would not fit either: stored without the results, and it says so.
      expect(final.reduced).toMatchObject({ dropped: ['snapshot.context.results'] });
      expect(final.reduced!.reason).toMatch(
        new RegExp(`^run\\.state record of run ${runId} is 1,20\\d,\\d{3} bytes, over the 1,048,\\d{3}-byte limit of ${prefix}\\.runs$`),
      );
      expect(results(final)).toEqual({});
      const status = await lockstep(['status', runId, '--brokers', brokers, '--prefix', prefix]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`${runId}: failed big v1`);
      expect(status.stdout).toContain(`task t3 failed: task.dispatch record of task t3 attempt 1 is 1,200,`);
      expect(status.stdout).toContain(`-byte limit of ${prefix}.commands.q (failed: t3)`);
      expect(status.stdout).toMatch(/stored without snapshot\.context\.results: run\.state record of run .* is 1,20\d,\d{3} bytes/);
      // The partition goes on.
      const after = await d.client.start('quick');
      const done = await d.client.wait(after, { timeoutMs: 30_000 });
      expect(done.status).toBe('succeeded');
      expect(results(done)).toEqual({ one: { ok: 'one' }, two: { ok: 'two' } });
      expect(d.orchestrator.orchestrator.stats.oversized).toBeGreaterThanOrEqual(2);
    });
  });

  it('a state over a small run-state limit fails the task in flight, non-retriably, and the run ends with its reason', async () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    // 64 KiB on the run-state topic only: the dispatches (on the 1 MB command topic) fit, the state does not.
    const d = await deployment(prefix, (task) => ({ blob: 'y'.repeat(40_000), task: task.taskId }), { runs: 65_536 });
    const runId = await d.client.start('big');
    const final = await d.client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    expect(final.final!.reason).toMatch(
      new RegExp(`^task t3 failed: run\\.state record of run ${runId} is 80,\\d{3} bytes, over the 65,280-byte limit of ${prefix}\\.runs$`),
    );
    expect(d.worker.seen.filter((s) => s.startsWith(runId))).toEqual([`${runId}:t1`, `${runId}:t2`]);
    expect(final.reduced).toMatchObject({ dropped: ['snapshot.context.results'] });
    const after = await d.client.start('quick');
    expect((await d.client.wait(after, { timeoutMs: 30_000 })).status).toBe('succeeded');
  });

  it('a reduced state keeps the run going while its orchestrator holds it; restored by another, its dispatches fail with the reason', async () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    const dispatches: Dispatch[] = [];
    // c1.compensate is left unanswered until another orchestrator has taken the run over.
    const d = await deployment(
      prefix,
      (task) => (dispatches.push(task), task.taskId === 'c1.compensate' ? UNANSWERED : { blob: 'w'.repeat(40_000) }),
      { runs: 65_536 },
    );
    const runId = await d.client.start('comp');
    await expect.poll(() => dispatches.some((t) => t.runId === runId && t.taskId === 'c1.compensate'), { timeout: 30_000 }).toBe(true);
    // c3 failed (the state would not fit); the compensation got the results from the orchestrator's memory.
    const compensation = dispatches.find((t) => t.runId === runId && t.taskId === 'c1.compensate')!;
    expect(Object.keys(compensation.payload.results).sort()).toEqual(['c1', 'c2']);
    const stored = await d.client.status(runId);
    expect(stored).toMatchObject({ status: 'running', currentTask: 'c1.compensate', reduced: { dropped: ['snapshot.context.results'] } });
    await d.orchestrator.close();
    closers.splice(closers.indexOf(d.orchestrator), 1);
    const second = await startKafkaOrchestrator({ ...base, prefix, registry });
    closers.push(second);
    const producer = await plainProducer();
    await producer.send({
      topic: topicNames(prefix).events,
      messages: [
        {
          key: runId,
          value: JSON.stringify({
            v: 1,
            type: 'task.succeeded',
            id: randomUUID(),
            runId,
            taskId: 'c1.compensate',
            attempt: 1,
            time: new Date().toISOString(),
            payload: {},
          }),
        },
      ],
    });
    await producer.disconnect();
    const final = await d.client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    expect(final.final!.failedTasks).toEqual(['c3', 'fin']);
    // fin was never dispatched: the restored run no longer has the results it would need.
    expect(dispatches.filter((t) => t.runId === runId).map((t) => t.taskId)).toEqual(['c1', 'c2', 'c1.compensate']);
    expect(final.snapshot.context).toMatchObject({ compensated: ['c1.compensate'], finallyFailed: ['fin'], results: {} });
    expect(final.reduced).toMatchObject({ dropped: ['snapshot.context.results'] });
    expect(final.reduced!.reason).toMatch(new RegExp(`^run\\.state record of run ${runId} is 8\\d,\\d{3} bytes`));
    expect(second.orchestrator.stats.restored).toBe(1);
  });

  it('a record the broker refuses (its limit lowered after the orchestrator started) fails its run instead of being retried forever', async () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    const d = await deployment(prefix, (task) => (task.taskId === 't1' ? { blob: 'z'.repeat(100_000) } : { ok: task.taskId }));
    // The orchestrator read ~1 MB at start; from now on the command topic takes 50 KB.
    const admin = await rawAdmin(brokers);
    await admin
      .alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: topicNames(prefix).commands('q'), configEntries: [{ name: 'max.message.bytes', value: '50000' }] }],
      })
      .finally(() => admin.disconnect());
    const runId = await d.client.start('big');
    const final = await d.client.wait(runId, { timeoutMs: 60_000 });
    expect(final.status).toBe('failed');
    expect(final.final!.reason).toMatch(/^task t2 failed: RECORD_TOO_LARGE: .*commands\.q refused the record with key/);
    expect(d.orchestrator.orchestrator.stats.refused).toBe(1);
    const after = await d.client.start('quick');
    expect((await d.client.wait(after, { timeoutMs: 30_000 })).status).toBe('succeeded');
  });

  it("a worker whose outcome is over the events topic's limit reports the attempt as failed instead of retrying the publish forever", async () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    await createTopics(prefix);
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry });
    closers.push(orchestrator);
    const worker = await createWorker({ ...base, prefix, queue: 'q', handlers: { one: () => 'x'.repeat(1_200_000), two: () => 'two' } });
    closers.push({ close: () => worker.close({ graceMs: 100 }) });
    const client = createLockstepClient({ ...base, prefix });
    closers.push(client);
    const final = await client.wait(await client.start('quick'), { timeoutMs: 30_000 });
    expect(final.status).toBe('failed');
    expect(final.final!.reason).toMatch(
      /^task one failed: its outcome could not be published: cannot publish to Kafka: The request included a message larger than/,
    );
    expect(final.snapshot.context.error).toMatchObject({ code: 'RECORD_TOO_LARGE', retriable: false });
  });

  it('run-state records that cannot be restored are dead-lettered with the reason and counted', async () => {
    const prefix = `rl-${randomUUID().slice(0, 8)}`;
    await createTopics(prefix);
    const producer = await plainProducer();
    const now = Date.now();
    const unknown = {
      v: 1,
      type: 'run.state',
      runId: 'r-unknown',
      time: new Date(now).toISOString(),
      sequence: 'nope',
      version: '1',
      status: 'running',
      currentTask: 'a',
      createdAt: now,
      updatedAt: now,
      timers: {},
      attemptStartedAt: now,
      completions: [],
      snapshot: {
        value: { main: { a: 'running' } },
        status: 'active',
        context: {
          runId: 'r-unknown',
          input: null,
          current: { taskId: 'a', attempt: 1, phase: 'main' },
          stopping: null,
          attempts: { a: 1 },
          failures: {},
          completed: [],
          continued: [],
          results: {},
          outcome: null,
          reason: null,
          error: null,
          compensated: [],
          compensationFailed: [],
          finallyFailed: [],
        },
      },
    };
    await producer.send({
      topic: topicNames(prefix).runs,
      messages: [
        { key: 'r-bad', value: 'not json {' },
        { key: 'r-unknown', value: JSON.stringify(unknown) },
        { key: 'r-wrong', value: '{"v":1,"type":"run.state"}' },
      ],
    });
    await producer.disconnect();
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry });
    closers.push(orchestrator);
    await expect.poll(() => orchestrator.orchestrator.stats.restoreFailed, { timeout: 30_000 }).toBe(3);
    await expect.poll(async () => (await deadLetters(transport, prefix)).length, { timeout: 30_000 }).toBe(3);
    const letters = new Map((await deadLetters(transport, prefix)).map((l) => [l.source.offset, l]));
    expect(letters.get('0')).toMatchObject({
      raw: 'not json {',
      rawTruncated: false,
      source: { topic: topicNames(prefix).runs, partition: 0 },
    });
    expect(letters.get('0')!.reason).toMatch(/^run\.state record: not JSON: /);
    expect(letters.get('1')!.reason).toBe(
      'run.state record of run r-unknown cannot be restored: run r-unknown: sequence: unknown sequence "nope" version 1 (known: quick, big, comp)',
    );
    expect(letters.get('2')!.reason).toMatch(/^run\.state record: runId: required; time: required; sequence: required/);
    expect(orchestrator.orchestrator.stats.restored).toBe(0);
  });
});
