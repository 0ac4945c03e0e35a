// lockstep serve over Kafka against the real test broker: each run's history comes from the history topic, exactly
// as the orchestrator wrote it (with the state after each entry), its record from the run-state topic; start, cancel
// and ingest go to the events topic. Here the test plays the orchestrator: it steps a real program and writes each
// entry and state record the way orchestrators do.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import type { RunEvent } from '../../src/core/compile/types.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { stateView } from '../../src/core/run/state-view.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createProgram } from '../../src/core/step.js';
import { createHttpServer } from '../../src/http/server.js';
import { createEmbeddedRunService } from '../../src/modes/embedded/index.js';
import { createKafkaRunService } from '../../src/modes/kafka/index.js';
import type { EntryUpdate, RunService } from '../../src/ports/run-service.js';
import { rejectedRunState } from '../../src/runtime/journals/kafka/run-state-topic.js';
import { ensureHistoryTopic, PlayedRun } from '../support/played-run.js';
import { TOKEN, until } from './serve-harness.js';

const brokers = inject('kafkaBrokers');
const prefix = `serve-${randomUUID().slice(0, 8)}`;
const topics = topicNames(prefix);
const DEFINITION = [
  'name: ship',
  'version: 1',
  'tasks:',
  '  - id: pack',
  '    run: echo packed',
  '    compensate:',
  '      run: echo unpacked',
  '  - id: label',
  '    queue: labels',
  '  - id: send',
  '    run: echo sent',
  '    retry: { maxAttempts: 2, backoff: { initial: 1s } }',
  'finally:',
  '  - id: tidy',
  '    run: echo tidy',
  '',
].join('\n');
const sequence = loadSequenceText(DEFINITION);
const program = createProgram(sequence);

let transport: KafkaTransport;
let runs: RunService;
let app: FastifyInstance;

const get = async (url: string) => (await app.inject({ method: 'GET', url })).json() as Record<string, any>;
const play = (runId: string = randomUUID(), input: unknown = { order: 9 }, historyFrom = 0) =>
  new PlayedRun(transport, prefix, program, { runId, input, historyFrom });
const untilView = (runId: string, done: (v: Record<string, any>) => boolean, what: string) =>
  until(
    async () => {
      const v = await get(`/api/runs/${runId}`);
      return v.run && done(v) ? v : undefined;
    },
    what,
    30_000,
  );

beforeAll(async () => {
  transport = new KafkaTransport({ brokers, clientId: 'serve-test', logLevel: 'nothing' });
  await transport.ensureTopics({ prefix, partitions: 2, queues: ['labels'] });
  await ensureHistoryTopic(brokers, prefix, 2);
  runs = await createKafkaRunService({ brokers, prefix, sequences: [{ sequence, definition: DEFINITION }] });
  app = createHttpServer({ runs, token: TOKEN, startWaitMs: 300 });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await runs?.close();
  await transport?.close();
}, 30_000);

describe('lockstep serve over Kafka', () => {
  it('shows each run as its history records tell it: exact entries, the state after each, live updates', async () => {
    const updates: EntryUpdate[] = [];
    const unsubscribe = runs.subscribe((u) => updates.push(u));
    const played = play();
    const runId = played.run.runId;
    await played.begin();
    const view = await untilView(runId, (v) => v.state !== null, 'the run to appear');
    expect(view.run).toMatchObject({ runId, sequence: 'ship', status: 'running', input: { order: 9 }, currentTask: 'pack' });
    expect(view.state).toMatchObject({ node: 'main.pack.running', kind: 'running' });

    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1, result: { box: 1 } });
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'label', attempt: 1 });
    await played.step({ type: 'TASK_FAILED', taskId: 'send', attempt: 1, error: { message: 'courier busy', code: 'BUSY' } });
    const retrying = await untilView(runId, (v) => v.state?.kind === 'retrying', 'the retry');
    expect(retrying.state).toMatchObject({ node: 'main.send.backoff', task: 'send', attempt: 1 });
    await played.step({ type: 'TIMER_FIRED', timerId: 'retry:send:1' });
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'send', attempt: 2 });
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'tidy', attempt: 1 });
    const done = await untilView(runId, (v) => v.run.status === 'succeeded' && v.history.length === played.entries.length, 'the end');
    unsubscribe();
    expect(done.state).toMatchObject({ node: 'succeeded', kind: 'succeeded', completed: ['pack', 'label', 'send'] });
    expect(done.history.map((e: any) => `${e.type}${e.task ? ` ${e.task}#${e.attempt}` : ''}`)).toEqual([
      'run.started',
      'task.started pack#1',
      'task.succeeded pack#1',
      'task.started label#1',
      'task.succeeded label#1',
      'task.started send#1',
      'task.failed send#1',
      'timer.fired',
      'task.started send#2',
      'task.succeeded send#2',
      'task.started tidy#1',
      'task.succeeded tidy#1',
      'run.succeeded',
    ]);
    // The entries are the orchestrator's, field for field (without the machine event the API never shows).
    expect(done.history).toEqual(played.entries.map(({ event: _event, ...rest }: any) => rest));
    expect(done.history.find((e: any) => e.type === 'task.failed')).toMatchObject({
      willRetry: true,
      retryInMs: 1000,
      error: { message: 'courier busy', code: 'BUSY' },
    });

    // Each live update carries its place and the state the orchestrator wrote with the entry: after the last entry of
    // a step, the view of the machine's own snapshot.
    const mine = updates.filter((u) => u.entry.runId === runId);
    expect(mine.map((u) => u.seq)).toEqual(played.entries.map((_, i) => i));
    expect(mine.map((u) => u.state?.value)).toEqual(played.played.map((p) => p.state));
    for (const [i, p] of played.played.entries()) if (p.last) expect(mine[i]!.state).toEqual(stateView(p.state, p.context));

    const listed = await get('/api/runs?sequence=ship&status=succeeded');
    expect(listed.runs.map((r: any) => r.runId)).toContain(runId);
    // The Kafka listing takes the same filters as the store's: an id prefix, a start time, a page.
    expect((await get(`/api/runs?idPrefix=${runId.slice(0, 12)}`)).runs.map((r: any) => r.runId)).toEqual([runId]);
    expect((await get(`/api/runs?idPrefix=${runId}&since=${Date.now() + 60_000}`)).runs).toEqual([]);
    expect((await get('/api/runs?status=interrupted')).runs).toEqual([]);
    const all = (await get('/api/runs')).runs.map((r: any) => r.runId);
    const pages: string[] = [];
    for (let cursor: string | undefined, n = 0; n === 0 || cursor; n++) {
      const page = await get(`/api/runs?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(...page.runs.map((r: any) => r.runId));
      cursor = page.next;
    }
    expect(pages).toEqual(all);
    const plan = await get(`/api/runs/${runId}/rerun-plan?from=send`);
    expect(plan).toMatchObject({ reused: [{ taskId: 'pack' }, { taskId: 'label' }], rerun: ['send'], finally: ['tidy'] });
  }, 60_000);

  it.each<[string, RunEvent[], Record<string, unknown>]>([
    [
      'failed, compensated and cleaned up with a failure',
      [
        { type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1, result: { box: 2 } },
        { type: 'TASK_FAILED', taskId: 'label', attempt: 1, error: { message: 'no printer' } },
        { type: 'TASK_SUCCEEDED', taskId: 'pack.compensate', attempt: 1 },
        { type: 'TASK_FAILED', taskId: 'tidy', attempt: 1, error: { message: 'disk full' } },
      ],
      { node: 'failed', failedTask: 'label', compensated: ['pack.compensate'], finallyFailed: ['tidy'] },
    ],
    [
      'cancelled, the stopped attempt reporting before its grace ran out',
      [
        { type: 'CANCEL', reason: 'operator' },
        { type: 'TASK_FAILED', taskId: 'pack', attempt: 1, error: { message: 'aborted' } },
        { type: 'TASK_SUCCEEDED', taskId: 'tidy', attempt: 1 },
      ],
      { node: 'cancelled', kind: 'cancelled', reason: 'operator', completed: [] },
    ],
    [
      'cancelled, the stopped attempt never reporting',
      [
        { type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1 },
        { type: 'CANCEL' },
        { type: 'TIMER_FIRED', timerId: 'stop:label:1' },
        { type: 'TASK_SUCCEEDED', taskId: 'pack.compensate', attempt: 1 },
        { type: 'TASK_SUCCEEDED', taskId: 'tidy', attempt: 1 },
      ],
      { node: 'cancelled', reason: 'cancelled', completed: ['pack'], compensated: ['pack.compensate'] },
    ],
  ])(
    'shows a run %s exactly as embedded serve shows it',
    async (_name, events, state) => {
      const played = play(randomUUID(), { order: 3 });
      await played.begin();
      for (const event of events) await played.step(event);
      expect(played.ended).toBe(true);
      const runId = played.run.runId;
      const kafka = await untilView(
        runId,
        (v) => v.run.status !== 'running' && v.history.length === played.entries.length,
        'the run to end',
      );

      // The same run as an embedded store records it, served by the embedded run service.
      const store = new MemoryRunStore();
      await store.create(played.storeRecord(DEFINITION, sha256Hex(DEFINITION)), played.entries);
      const embedded = await createEmbeddedRunService({ store, sequences: [{ sequence, definition: DEFINITION }] });
      const embeddedApp = createHttpServer({ runs: embedded });
      try {
        const local = (await embeddedApp.inject({ method: 'GET', url: `/api/runs/${runId}` })).json() as Record<string, any>;
        expect(kafka.history).toEqual(local.history);
        expect(kafka.state).toEqual(local.state);
        expect(kafka.tasks).toEqual(local.tasks);
        expect(kafka.finally).toEqual(local.finally);
        const same = ['runId', 'sequence', 'version', 'status', 'input', 'currentTask', 'reason', 'createdAt'];
        const pick = (r: Record<string, unknown>) => Object.fromEntries(same.map((k) => [k, r[k]]));
        expect(pick(kafka.run)).toEqual(pick(local.run));
        expect(kafka.state).toMatchObject(state);
      } finally {
        await embeddedApp.close();
        await embedded.close();
      }
    },
    60_000,
  );

  it('drops a redelivered history record, and shows a run whose first records expired from its state record', async () => {
    const played = play();
    await played.begin();
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1 });
    // An orchestrator that took the partition over writes the last records again.
    await played.rewrite([1, 2, 3]);
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'label', attempt: 1 });
    const view = await untilView(played.run.runId, (v) => v.state?.node === 'main.send.running', 'the run to reach send');
    expect(view.history.map((e: any) => e.type)).toEqual([
      'run.started',
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
      'task.started',
    ]);

    // Retention deleted the first records of this one: what is left is shown, and the state comes from its record.
    const cut = play(randomUUID(), { order: 9 }, 6);
    await cut.begin();
    await cut.step({ type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1 });
    await cut.step({ type: 'TASK_SUCCEEDED', taskId: 'label', attempt: 1 });
    await cut.step({ type: 'TASK_FAILED', taskId: 'send', attempt: 1, error: { message: 'late' } });
    const partial = await untilView(cut.run.runId, (v) => v.state?.kind === 'retrying' && v.history.length > 0, 'the cut run');
    expect(partial.history.map((e: any) => e.type)).toEqual(['task.failed']);
    expect(partial.state).toMatchObject({ node: 'main.send.backoff', completed: ['pack', 'label'] });
    expect(partial.run).toMatchObject({ sequence: 'ship', status: 'running', input: { order: 9 } });
  }, 60_000);

  it('shows a run refused at start from its state record alone, without throwing', async () => {
    const runId = randomUUID();
    const start = {
      v: 1,
      type: 'run.start',
      id: randomUUID(),
      runId,
      time: new Date().toISOString(),
      payload: { sequence: 'nope', input: { a: 1 } },
    } as const;
    await transport.publish([{ topic: topics.runs, key: runId, value: rejectedRunState(start, 'unknown sequence "nope"', Date.now()) }]);
    const view = await untilView(runId, () => true, 'the refused run');
    expect(view.run).toMatchObject({
      runId,
      sequence: 'nope',
      status: 'failed',
      input: { a: 1 },
      reason: 'not started: unknown sequence "nope"',
    });
    expect(view.history).toEqual([]);
    expect(view.state).toMatchObject({ node: 'rejected', kind: 'failed' });
  }, 60_000);

  it('publishes start, cancel and ingested completions to the events topic', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const start = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: { sequence: 'ship', input: { order: 1 } } });
    // No orchestrator records the run here, so the server answers 202: asked for, not yet recorded.
    expect(start.statusCode).toBe(202);
    const runId = start.json().runId as string;
    const events = await until(
      async () => {
        const partitions = [...(await transport.endOffsets(topics.events)).keys()];
        const found = (await transport.readPartitions(topics.events, partitions)).filter((m) => m.key === runId);
        return found.length > 0 ? found : undefined;
      },
      'run.start on the events topic',
      30_000,
    );
    expect(JSON.parse(events[0]!.value!)).toMatchObject({ type: 'run.start', runId, payload: { sequence: 'ship', input: { order: 1 } } });
    expect((await app.inject({ method: 'POST', url: `/api/runs/${runId}/cancel`, headers: auth, payload: {} })).statusCode).toBe(404);

    // Once an orchestrator records the run, the server can report its remote task and cancel it.
    const played = play(runId, { order: 1 });
    await played.begin();
    await played.step({ type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1 });
    await untilView(runId, (v) => v.state?.node === 'main.label.running', 'the recorded run');
    const report = {
      v: 1,
      id: randomUUID(),
      runId,
      taskId: 'label',
      attempt: 1,
      time: new Date().toISOString(),
      type: 'task.succeeded',
      payload: { result: 'L-1' },
    };
    expect((await app.inject({ method: 'POST', url: '/api/ingest', headers: auth, payload: report })).statusCode).toBe(202);
    expect(
      (await app.inject({ method: 'POST', url: `/api/runs/${runId}/cancel`, headers: auth, payload: { reason: 'stop' } })).statusCode,
    ).toBe(202);
    const sent = await until(
      async () => {
        const partitions = [...(await transport.endOffsets(topics.events)).keys()];
        const found = (await transport.readPartitions(topics.events, partitions))
          .filter((m) => m.key === runId)
          .map((m) => JSON.parse(m.value!));
        return found.length >= 3 ? found : undefined;
      },
      'the report and the cancel on the events topic',
      30_000,
    );
    expect(sent.map((m) => m.type)).toEqual(['run.start', 'task.succeeded', 'run.cancel']);
    expect(sent[1]).toEqual(report);
    expect(sent[2]).toMatchObject({ runId, payload: { reason: 'stop' } });
  }, 60_000);
});
