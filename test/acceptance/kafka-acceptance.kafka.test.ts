// Kafka mode's acceptance, against the real broker, with orchestrators and workers as separate OS processes
// (`node bin/lockstep.js orchestrator|worker`, so `npm run build` first): ordering under load, an orchestrator
// SIGKILLed halfway, duplicate and malformed input, and a task completed by a message built from the JSON Schema.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { Envelope } from '../../src/core/protocol/envelope.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import type { LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient } from '../../src/modes/kafka/index.js';
import { lockstep, ROOT } from '../support/cli.js';
import type { LogRecord, Service } from '../support/kafka-log.js';
import { plainKafka, startService, TopicLog } from '../support/kafka-log.js';
import { checkRunLog } from './run-log-checker.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-kafka-acceptance-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');
const RUNS = 200;
const ORDER = ['t1', 't2', 't3', 't4', 't5'];
const PARTITIONS = 6;

const machines = mkdtempSync(join(scratch, 'acceptance-'));
writeFileSync(join(machines, 'five.yaml'), `name: five\nversion: 1\ntasks:\n${ORDER.map((t) => `  - id: ${t}\n    run: ":"\n`).join('')}`);
writeFileSync(
  join(machines, 'slow.yaml'),
  'name: slow\nversion: 1\ntasks:\n  - id: first\n    run: ":"\n  - id: second\n    run: sleep 2\n',
);
writeFileSync(
  join(machines, 'external.yaml'),
  'name: external\nversion: 1\ntasks:\n  - id: pay\n    queue: ext\n  - id: receipt\n    run: echo "{\\"paid\\":$LOCKSTEP_RESULT_PAY}"\n',
);

/** Two orchestrators and two workers, each its own process, on fresh topics. */
class Deployment {
  readonly prefix = `acc-${randomUUID().slice(0, 8)}`;
  readonly topics = topicNames(this.prefix);
  readonly services: Service[] = [];
  readonly states = new Map<string, RunState>();
  client!: LockstepClient;
  log!: TopicLog;
  runsLog!: TopicLog;

  async start(onRecord?: (r: LogRecord) => void): Promise<void> {
    const created = await lockstep([
      'topics',
      'create',
      '--brokers',
      brokers,
      '--prefix',
      this.prefix,
      '--partitions',
      String(PARTITIONS),
      '--sequences',
      machines,
    ]);
    expect(created.code, created.stderr).toBe(0);
    const common = ['--brokers', brokers, '--prefix', this.prefix, '--sequences', machines];
    for (const i of [1, 2]) this.services.push(startService(`orchestrator-${i}`, ['orchestrator', ...common, '--stats-interval', '300']));
    for (const i of [1, 2]) this.services.push(startService(`worker-${i}`, ['worker', ...common, '--stats-interval', '300']));
    await Promise.all(this.services.map((s) => s.ready));
    const kafka = plainKafka(brokers);
    this.log = await TopicLog.start(
      kafka,
      [this.topics.events, this.topics.commands('default'), this.topics.commands('ext'), this.topics.deadLetter],
      onRecord,
    );
    this.runsLog = await TopicLog.start(kafka, [this.topics.runs], (r) => {
      if (r.key && r.value) this.states.set(r.key, JSON.parse(r.value) as RunState);
    });
    this.client = createLockstepClient({ brokers, prefix: this.prefix, logLevel: 'nothing' });
  }

  get orchestrators(): Service[] {
    return this.services.filter((s) => s.name.startsWith('orchestrator'));
  }

  ended(runIds: readonly string[]): number {
    return runIds.filter((id) => {
      const s = this.states.get(id);
      return s && s.status !== 'running';
    }).length;
  }

  async waitEnded(runIds: readonly string[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.ended(runIds) < runIds.length) {
      if (Date.now() > until)
        throw new Error(
          `${this.ended(runIds)} of ${runIds.length} runs ended in ${timeoutMs} ms\n${this.services.map((s) => `--- ${s.name}\n${s.stderr().slice(-3000)}`).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The orchestrators' counters, summed over their latest stats lines. */
  stats(): { duplicate: number; late: number; stale: number; deadLettered: number; restored: number } {
    const sum = { duplicate: 0, late: 0, stale: 0, deadLettered: 0, restored: 0 };
    for (const o of this.orchestrators) {
      const last = [...o.lines].reverse().find((l) => l.event === 'stats') as
        | { ignored: Record<string, number>; deadLettered: number; restored: number }
        | undefined;
      if (!last) continue;
      sum.duplicate += last.ignored.duplicate ?? 0;
      sum.late += last.ignored.late ?? 0;
      sum.stale += last.ignored.stale ?? 0;
      sum.deadLettered += last.deadLettered;
      sum.restored += last.restored;
    }
    return sum;
  }

  dispatchesOf(runId: string): Array<Extract<Envelope, { type: 'task.dispatch' }>> {
    return this.log
      .of(this.topics.commands('default'))
      .concat(this.log.of(this.topics.commands('ext')))
      .map((r) => JSON.parse(r.value!) as Envelope)
      .filter((e): e is Extract<Envelope, { type: 'task.dispatch' }> => e.type === 'task.dispatch' && e.runId === runId);
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop('SIGKILL')));
    await this.log?.stop().catch(() => {});
    await this.runsLog?.stop().catch(() => {});
    await this.client?.close().catch(() => {});
  }
}

async function startRuns(d: Deployment, n: number, sequence = 'five'): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => d.client.start(sequence, { input: { i } })));
}

function check(d: Deployment, runIds: readonly string[]) {
  return checkRunLog(d.log.of(d.topics.events), d.log.of(d.topics.commands('default')), runIds, ORDER);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('the acceptance tests run bin/lockstep.js: run `npm run build` first');
});

describe('Kafka mode acceptance: 2 orchestrators and 2 workers as processes', () => {
  const d = new Deployment();
  let runIds: string[] = [];
  beforeAll(() => d.start(), 60_000);
  afterAll(() => d.stop(), 30_000);

  it(`${RUNS} concurrent runs of ${ORDER.length} tasks all finish, and the event log is clean`, async () => {
    const t0 = Date.now();
    runIds = await startRuns(d, RUNS);
    await d.waitEnded(runIds, 150_000);
    const ms = Date.now() - t0;
    expect(runIds.map((id) => d.states.get(id)!.status).filter((s) => s !== 'succeeded')).toEqual([]);
    await expect.poll(() => check(d, runIds).dispatches, { timeout: 10_000 }).toBeGreaterThanOrEqual(RUNS * ORDER.length);
    const report = check(d, runIds);
    expect(report.problems).toEqual([]);
    expect(report.dispatches).toBe(RUNS * ORDER.length);
    console.log(`${RUNS} runs x ${ORDER.length} tasks in ${ms} ms (${Math.round((RUNS * ORDER.length) / (ms / 1000))} steps/s)`);
  }, 180_000);

  it('ignores duplicate completion events injected with a plain Kafka producer', async () => {
    const producer = plainKafka(brokers).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      // While a run is live: its first task's success, again, while its second task runs.
      const [live] = await startRuns(d, 1, 'slow');
      await expect.poll(() => d.dispatchesOf(live!).map((e) => e.taskId), { timeout: 20_000 }).toEqual(['first', 'second']);
      const success = d.log.of(d.topics.events).find((r) => r.key === live && r.value!.includes('"task.succeeded"'))!;
      const copy = JSON.parse(success.value!) as Envelope;
      const before = d.stats();
      await producer.send({
        topic: d.topics.events,
        messages: [
          { key: live!, value: success.value },
          { key: live!, value: success.value },
          { key: live!, value: JSON.stringify({ ...copy, id: randomUUID() }) },
        ],
      });
      // After runs ended: late copies of their completions.
      const late = d.log
        .of(d.topics.events)
        .filter((r) => runIds.includes(r.key!) && r.value!.includes('"task.succeeded"'))
        .slice(0, 10);
      await producer.send({ topic: d.topics.events, messages: late.map((r) => ({ key: r.key, value: r.value })) });
      await d.waitEnded([live!], 30_000);
      // Counters are not transactional: a batch delivered again after a failed commit counts twice.
      await expect.poll(() => d.stats().duplicate - before.duplicate, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      await expect.poll(() => d.stats().late - before.late, { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
      expect(d.states.get(live!)!.status).toBe('succeeded');
      expect(d.dispatchesOf(live!).map((e) => `${e.taskId}:${e.attempt}`)).toEqual(['first:1', 'second:1']);
      expect(check(d, runIds).dispatches).toBe(RUNS * ORDER.length);
    } finally {
      await producer.disconnect();
    }
  }, 60_000);

  it('sends a malformed message to the dead-letter topic with the reason, and goes on', async () => {
    const producer = plainKafka(brokers).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const before = d.stats().deadLettered;
      await producer.send({
        topic: d.topics.events,
        messages: [
          { key: 'bad-1', value: 'this is not JSON' },
          { key: 'bad-2', value: JSON.stringify({ v: 1, type: 'task.succeeded', runId: 'x' }) },
        ],
      });
      const [after] = await startRuns(d, 1);
      await d.waitEnded([after!], 30_000);
      expect(d.states.get(after!)!.status).toBe('succeeded');
      await expect.poll(() => d.log.of(d.topics.deadLetter).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      const letters = d.log
        .of(d.topics.deadLetter)
        .map((r) => JSON.parse(r.value!) as { raw: string; reason: string; source: { topic: string } });
      const bad1 = letters.find((l) => l.raw === 'this is not JSON')!;
      expect(bad1.source.topic).toBe(d.topics.events);
      expect(bad1.reason).toMatch(/^not a lockstep message: not JSON: /);
      const bad2 = letters.find((l) => l.raw.includes('"runId":"x"'))!;
      expect(bad2.reason).toBe(
        'not a lockstep message: id: required; time: required; taskId: required; attempt: required; payload: required',
      );
      await expect.poll(() => d.stats().deadLettered - before, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    } finally {
      await producer.disconnect();
    }
  }, 60_000);

  it('advances a run when a task is completed by a message built from the JSON Schema alone', async () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'task.succeeded.json'), 'utf8')) as {
      required: string[];
      properties: Record<string, { const?: unknown }>;
    };
    const kafka = plainKafka(brokers);
    const consumer = kafka.consumer({ groupId: `external-service-${randomUUID()}`, maxWaitTimeInMs: 50 });
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await Promise.all([consumer.connect(), producer.connect()]);
    try {
      const runId = await d.client.start('external', { input: { amount: 42 } });
      await consumer.subscribe({ topic: d.topics.commands('ext'), fromBeginning: true });
      const dispatch = await new Promise<Record<string, unknown>>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            const m = JSON.parse(message.value!.toString()) as Record<string, unknown>;
            if (m.runId === runId && m.type === 'task.dispatch') resolve(m);
          },
        });
      });
      // Fill every required field the schema names: constants from the schema, the rest from the dispatch.
      const from: Record<string, unknown> = {
        id: randomUUID(),
        runId: dispatch.runId,
        taskId: dispatch.taskId,
        attempt: dispatch.attempt,
        time: new Date().toISOString(),
        payload: { result: 7 },
      };
      const reply = Object.fromEntries(schema.required.map((field) => [field, schema.properties[field]!.const ?? from[field]]));
      expect(z.fromJSONSchema(schema as never).safeParse(reply).success).toBe(true);
      await producer.send({ topic: d.topics.events, messages: [{ key: String(dispatch.runId), value: JSON.stringify(reply) }] });
      await d.waitEnded([runId], 30_000);
      const state = d.states.get(runId)!;
      expect(state.status).toBe('succeeded');
      expect((state.snapshot.context as { results: Record<string, unknown> }).results).toEqual({ pay: 7, receipt: { paid: 7 } });
    } finally {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    }
  }, 60_000);
});

describe('Kafka mode acceptance: an orchestrator SIGKILLed halfway', () => {
  let dispatched = 0;
  let kill: (() => void) | undefined;
  const d = new Deployment();
  beforeAll(
    () =>
      d.start((r) => {
        if (r.topic !== d.topics.commands('default') || !r.value?.includes('"task.dispatch"')) return;
        if (++dispatched >= (RUNS * ORDER.length) / 2 && kill) {
          kill();
          kill = undefined;
        }
      }),
    60_000,
  );
  afterAll(() => d.stop(), 30_000);

  it(`${RUNS} runs of ${ORDER.length} tasks all finish, and the event log is clean`, async () => {
    const victim = d.orchestrators[0]!;
    let killedAt = 0;
    kill = () => {
      killedAt = dispatched;
      victim.child.kill('SIGKILL');
    };
    const runIds = await startRuns(d, RUNS);
    await d.waitEnded(runIds, 150_000);
    expect(killedAt).toBeGreaterThanOrEqual((RUNS * ORDER.length) / 2);
    expect(await victim.exited).toBeNull();
    expect(runIds.map((id) => d.states.get(id)!.status).filter((s) => s !== 'succeeded')).toEqual([]);
    await expect.poll(() => check(d, runIds).dispatches, { timeout: 10_000 }).toBeGreaterThanOrEqual(RUNS * ORDER.length);
    const report = check(d, runIds);
    expect(report.problems).toEqual([]);
    expect(report.dispatches).toBe(RUNS * ORDER.length);
    // The survivor took the victim's runs over from the run-state topic.
    await expect.poll(() => d.stats().restored, { timeout: 5_000 }).toBeGreaterThan(0);
  }, 180_000);
});
