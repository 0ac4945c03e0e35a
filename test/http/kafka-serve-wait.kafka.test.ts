// lockstep serve over Kafka with a run at a wait task, against the real test broker: the history topic's
// task.waiting entry makes the run `waiting` in its view and in the listing (and in nothing else), until the wait
// ends. Here the test plays the orchestrator: it steps a real program and writes each entry as orchestrators do.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createProgram } from '../../src/core/step.js';
import { createHttpServer } from '../../src/http/server.js';
import { createKafkaRunService } from '../../src/modes/kafka/index.js';
import type { RunService } from '../../src/ports/run-service.js';
import { ensureHistoryTopic, PlayedRun } from '../support/played-run.js';
import { TOKEN, until } from './serve-harness.js';

const brokers = inject('kafkaBrokers');
const prefix = `serve-wait-${randomUUID().slice(0, 8)}`;
const DEFINITION = [
  'name: approval',
  'version: 1',
  'tasks:',
  '  - id: build',
  '    run: echo built',
  '  - id: approve',
  '    wait:',
  '      signal: true',
  '      schema: { type: object, required: [approver] }',
  '    timeout: 48h',
  '  - id: deploy',
  '    run: echo deployed',
  '',
].join('\n');
const sequence = loadSequenceText(DEFINITION);
const program = createProgram(sequence);

let transport: KafkaTransport;
let runs: RunService;
let app: FastifyInstance;

type Json = Record<string, any>;
const get = async (url: string) => (await app.inject({ method: 'GET', url })).json() as Json;
const untilView = (runId: string, done: (v: Json) => boolean, what: string) =>
  until(
    async () => {
      const v = await get(`/api/runs/${runId}`);
      return v.run && done(v) ? v : undefined;
    },
    what,
    30_000,
  );
const listed = async (status?: string) =>
  ((await get(`/api/runs?limit=1000${status ? `&status=${status}` : ''}`)).runs as Json[]).map((r) => `${r.runId}:${r.status}`);

beforeAll(async () => {
  transport = new KafkaTransport({ brokers, clientId: 'serve-wait-test', logLevel: 'nothing' });
  await transport.ensureTopics({ prefix, partitions: 2, queues: [] });
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

describe('lockstep serve over Kafka, a run at a wait', () => {
  it('shows it waiting, with its wait and schema, lists it under waiting only, and running once the wait ends', async () => {
    const waiting = new PlayedRun(transport, prefix, program, { runId: `w-${randomUUID()}` });
    const busy = new PlayedRun(transport, prefix, program, { runId: `b-${randomUUID()}` });
    await waiting.begin();
    await busy.begin();
    await waiting.step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 });
    const [w, b] = [waiting.run.runId, busy.run.runId];

    const view = await untilView(w, (v) => v.run.status === 'waiting', 'the run to wait');
    const entry = view.history.find((e: Json) => e.type === 'task.waiting');
    expect(view.waiting).toEqual({
      task: 'approve',
      for: 'signal',
      since: entry.at,
      until: entry.at + 48 * 3_600_000,
      schema: { type: 'object', required: ['approver'] },
    });
    expect(view.links.signal).toBe(`/api/runs/${w}/tasks/approve/signal`);
    await untilView(b, (v) => v.run.status === 'running', 'the busy run');
    expect(await listed('waiting')).toEqual([`${w}:waiting`]);
    expect(await listed('running')).toEqual([`${b}:running`]);
    expect(await listed()).toEqual(expect.arrayContaining([`${w}:waiting`, `${b}:running`]));
    expect(((await get('/api/runs?status=waiting')).runs as Json[])[0]!.waiting).toEqual({
      task: 'approve',
      for: 'signal',
      since: entry.at,
      until: entry.at + 48 * 3_600_000,
    });

    // The signal's completion ends the wait: the run is running again, at deploy.
    await waiting.step({ type: 'TASK_SUCCEEDED', taskId: 'approve', attempt: 1, result: { approver: 'ann' } });
    const going = await untilView(w, (v) => v.run.status === 'running', 'the wait to end');
    expect(going.waiting).toBeNull();
    expect(going.links.signal).toBeUndefined();
    expect(await listed('waiting')).toEqual([]);
    expect((await listed('running')).sort()).toEqual([`${w}:running`, `${b}:running`].sort());
  }, 60_000);
});
