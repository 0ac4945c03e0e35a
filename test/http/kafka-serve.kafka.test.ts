// lockstep serve over Kafka against the real test broker: the view of every run comes from the run-state topic,
// and start, cancel and ingest go to the events topic. Here the test plays the orchestrator: it steps a real
// program and writes each state record the way orchestrators do.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import type { RunEvent } from '../../src/core/compile/types.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createProgram } from '../../src/core/step.js';
import type { ServeBackend } from '../../src/http/backend.js';
import { createKafkaBackend } from '../../src/http/kafka-backend.js';
import { createHttpServer } from '../../src/http/server.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import type { LiveRun } from '../../src/core/run/live-run.js';
import { TOKEN, until } from './serve-harness.js';

const brokers = inject('kafkaBrokers');
const prefix = `serve-${randomUUID().slice(0, 8)}`;
const topics = topicNames(prefix);
const DEFINITION = [
  'name: ship', 'version: 1', 'tasks:',
  '  - id: pack', '    run: echo packed', '    compensate:', '      run: echo unpacked',
  '  - id: label', '    queue: labels',
  '  - id: send', '    run: echo sent', '    retry: { maxAttempts: 2, backoff: { initial: 1s } }',
  'finally:', '  - id: tidy', '    run: echo tidy', '',
].join('\n');
const sequence = loadSequenceText(DEFINITION);
const program = createProgram(sequence);

let transport: KafkaTransport;
let backend: ServeBackend;
let app: FastifyInstance;

/** The state record of a live run, as an orchestrator writes it after a step. */
function record(run: LiveRun, now: number, final?: { outcome: 'succeeded' | 'failed' | 'cancelled'; reason?: string }): RunState {
  const snapshot = program.persist(run.snapshot);
  return {
    v: 1, type: 'run.state', runId: run.runId, time: new Date(now).toISOString(), sequence: 'ship', version: '1',
    status: final?.outcome ?? 'running', ...(snapshot.context.current ? { currentTask: snapshot.context.current.taskId } : {}),
    createdAt: run.startedAt, updatedAt: now,
    snapshot: { value: snapshot.value, context: snapshot.context as unknown as Record<string, unknown>, status: snapshot.status },
    timers: Object.fromEntries(run.timers), attemptStartedAt: run.attemptStartedAt, completions: [...run.completions],
    ...(final ? { final: { outcome: final.outcome, durationMs: now - run.startedAt, failedTasks: [], ...(final.reason ? { reason: final.reason } : {}) } } : {}),
  };
}

const writeState = (state: RunState) => transport.publish([{ topic: topics.runs, key: state.runId, value: state }]);
const get = async (url: string) => (await app.inject({ method: 'GET', url })).json() as Record<string, any>;

beforeAll(async () => {
  transport = new KafkaTransport({ brokers, clientId: 'serve-test', logLevel: 'nothing' });
  await transport.ensureTopics({ prefix, partitions: 2, queues: ['labels'] });
  backend = await createKafkaBackend({ brokers, topicPrefix: prefix, sequences: [{ sequence, definition: DEFINITION }] });
  app = createHttpServer({ backend, token: TOKEN, startWaitMs: 300 });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await backend?.close();
  await transport?.close();
}, 30_000);

describe('lockstep serve over Kafka', () => {
  it('builds each run from its state records: state, derived history, live updates', async () => {
    const updates: Array<{ type: string; node?: string }> = [];
    const unsubscribe = backend.subscribe((u) => updates.push({ type: u.entry.type, ...(u.state ? { node: u.state.node } : {}) }));
    const runId = randomUUID();
    let now = Date.now();
    const began = beginRun(program, { runId, input: { order: 9 }, at: now });
    const run = began.run;
    await writeState(record(run, now));
    const step = async (event: RunEvent) => {
      now += 25;
      advance(run, event, now);
      await writeState(record(run, now, run.snapshot.status === 'done' ? { outcome: run.snapshot.context.outcome! } : undefined));
    };
    const view = await until(async () => {
      const v = await get(`/api/runs/${runId}`);
      return v.state ? v : undefined;
    }, 'the run to appear', 30_000);
    expect(view.run).toMatchObject({ runId, sequence: 'ship', status: 'running', input: { order: 9 }, currentTask: 'pack' });
    expect(view.state).toMatchObject({ node: 'main.pack.running', kind: 'running' });

    await step({ type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1, result: { box: 1 } });
    await step({ type: 'TASK_SUCCEEDED', taskId: 'label', attempt: 1 });
    await step({ type: 'TASK_FAILED', taskId: 'send', attempt: 1, error: { message: 'courier busy' } });
    const retrying = await until(async () => {
      const v = await get(`/api/runs/${runId}`);
      return v.state?.kind === 'retrying' ? v : undefined;
    }, 'the retry', 30_000);
    expect(retrying.state).toMatchObject({ node: 'main.send.backoff', task: 'send' });
    await step({ type: 'TIMER_FIRED', timerId: 'retry:send:1' });
    await step({ type: 'TASK_SUCCEEDED', taskId: 'send', attempt: 2 });
    await step({ type: 'TASK_SUCCEEDED', taskId: 'tidy', attempt: 1 });
    const done = await until(async () => {
      const v = await get(`/api/runs/${runId}`);
      return v.run.status === 'succeeded' ? v : undefined;
    }, 'the end', 30_000);
    unsubscribe();
    expect(done.state).toMatchObject({ node: 'succeeded', kind: 'succeeded', completed: ['pack', 'label', 'send'] });
    expect(done.history.map((e: any) => `${e.type}${e.task ? ` ${e.task}#${e.attempt}` : ''}`)).toEqual([
      'run.started', 'task.started pack#1', 'task.succeeded pack#1', 'task.started label#1', 'task.succeeded label#1',
      'task.started send#1', 'task.failed send#1', 'task.started send#2', 'task.succeeded send#2', 'task.started tidy#1',
      'task.succeeded tidy#1', 'run.succeeded',
    ]);
    expect(done.history.find((e: any) => e.type === 'task.failed')).toMatchObject({
      willRetry: true, retryInMs: 1000, error: { message: 'attempt 1 failed (run-state records keep the error only of the failure that ends a task)' },
    });
    expect(done.history.find((e: any) => e.type === 'task.succeeded' && e.task === 'pack')).toMatchObject({ result: { box: 1 } });
    expect(updates.map((u) => u.type)).toContain('run.succeeded');
    expect(updates.at(-1)).toEqual({ type: 'run.succeeded', node: 'succeeded' });

    const listed = await get('/api/runs?sequence=ship&status=succeeded');
    expect(listed.runs.map((r: any) => r.runId)).toContain(runId);
    const plan = await get(`/api/runs/${runId}/rerun-plan?from=send`);
    expect(plan).toMatchObject({ reused: [{ taskId: 'pack' }, { taskId: 'label' }], rerun: ['send'], finally: ['tidy'] });
  }, 60_000);

  it('publishes start, cancel and ingested completions to the events topic', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const start = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: { sequence: 'ship', input: { order: 1 } } });
    // No orchestrator records the run here, so the server answers 202: asked for, not yet recorded.
    expect(start.statusCode).toBe(202);
    const runId = start.json().runId as string;
    const events = await until(async () => {
      const partitions = [...(await transport.endOffsets(topics.events)).keys()];
      const found = (await transport.readPartitions(topics.events, partitions)).filter((m) => m.key === runId);
      return found.length > 0 ? found : undefined;
    }, 'run.start on the events topic', 30_000);
    expect(JSON.parse(events[0]!.value!)).toMatchObject({ type: 'run.start', runId, payload: { sequence: 'ship', input: { order: 1 } } });
    expect((await app.inject({ method: 'POST', url: `/api/runs/${runId}/cancel`, headers: auth, payload: {} })).statusCode).toBe(404);

    // Once an orchestrator records the run, the server can report its remote task and cancel it.
    const run = beginRun(program, { runId, input: { order: 1 }, at: Date.now() }).run;
    advance(run, { type: 'TASK_SUCCEEDED', taskId: 'pack', attempt: 1 }, Date.now());
    await writeState(record(run, Date.now()));
    await until(async () => ((await get(`/api/runs/${runId}`)).state?.node === 'main.label.running' ? true : undefined), 'the recorded run', 30_000);
    const report = { v: 1, id: randomUUID(), runId, taskId: 'label', attempt: 1, time: new Date().toISOString(), type: 'task.succeeded', payload: { result: 'L-1' } };
    expect((await app.inject({ method: 'POST', url: '/api/ingest', headers: auth, payload: report })).statusCode).toBe(202);
    expect((await app.inject({ method: 'POST', url: `/api/runs/${runId}/cancel`, headers: auth, payload: { reason: 'stop' } })).statusCode).toBe(202);
    const sent = await until(async () => {
      const partitions = [...(await transport.endOffsets(topics.events)).keys()];
      const found = (await transport.readPartitions(topics.events, partitions)).filter((m) => m.key === runId).map((m) => JSON.parse(m.value!));
      return found.length >= 3 ? found : undefined;
    }, 'the report and the cancel on the events topic', 30_000);
    expect(sent.map((m) => m.type)).toEqual(['run.start', 'task.succeeded', 'run.cancel']);
    expect(sent[1]).toEqual(report);
    expect(sent[2]).toMatchObject({ runId, payload: { reason: 'stop' } });
  }, 60_000);
});
