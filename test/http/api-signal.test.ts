// Waits over the API, on a real embedded run service: a waiting run's view and listing, and
// POST /api/runs/:id/tasks/:task/signal with the bearer token (data checked against the task's schema, a
// rejection, a wait not reached, a duplicate, an ended run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

const HOUR = 3_600_000;

const SCHEMA = {
  type: 'object',
  required: ['approver'],
  properties: { approver: { type: 'string', minLength: 1 }, note: { type: 'string' } },
  additionalProperties: false,
};

const approval = (name: string, first: string, then: string) =>
  [
    `name: ${name}`,
    'version: 1',
    'tasks:',
    '  - id: build',
    `    run: ${JSON.stringify(first)}`,
    '  - id: approve',
    '    wait:',
    '      signal: true',
    `      schema: ${JSON.stringify(SCHEMA)}`,
    '    timeout: 48h',
    '  - id: deploy',
    `    run: ${JSON.stringify(then)}`,
    '',
  ].join('\n');

const FILES = {
  'approval.yaml': approval('approval', `echo '{"artifact":"a1"}'`, 'echo deployed'),
  // Deploys slowly, so a second signal comes while the run still runs.
  'approval-slow-deploy.yaml': approval('approval-slow-deploy', 'echo built', 'sleep 2'),
  // Builds slowly, so a signal comes before the run reaches its wait.
  'approval-slow-build.yaml': approval('approval-slow-build', 'sleep 30', 'echo deployed'),
  'remind.yaml': [
    'name: remind',
    'version: 1',
    'tasks:',
    '  - id: pause',
    '    wait: { duration: 2h }',
    '  - id: ping',
    '    run: echo ping',
    '',
  ].join('\n'),
  'forever.yaml': ['name: forever', 'version: 1', 'tasks:', '  - id: approve', '    wait: { signal: true }', '    timeout: never', ''].join(
    '\n',
  ),
};

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness({ files: FILES });
});
afterAll(() => h.close());

type Json = Record<string, any>;
const auth = { authorization: `Bearer ${TOKEN}` };
const post = async (url: string, payload: unknown, headers: Record<string, string> = auth) => {
  const res = await h.app.inject({ method: 'POST', url, headers, payload: payload as object });
  return { status: res.statusCode, body: res.json() as Json };
};
const get = async (url: string) => (await h.app.inject({ method: 'GET', url })).json() as Json;
const view = (runId: string, predicate: (v: Json) => boolean, what: string) =>
  until(async () => {
    const v = await get(`/api/runs/${runId}`);
    return predicate(v) ? v : undefined;
  }, what);
const start = async (sequence: string) => (await post('/api/runs', { sequence })).body.runId as string;
const signal = (runId: string, task: string, body: unknown, headers?: Record<string, string>) =>
  post(`/api/runs/${runId}/tasks/${task}/signal`, body, headers);
const waiting = (runId: string) => view(runId, (v) => v.run.status === 'waiting', `run ${runId} to wait`);

describe('a waiting run over the API', () => {
  it('shows the wait it is in, with the signal schema and the link that signals it', async () => {
    const runId = await start('approval');
    const v = await waiting(runId);
    expect(v.waiting).toEqual({
      task: 'approve',
      for: 'signal',
      since: expect.any(Number),
      until: v.waiting.since + 48 * HOUR,
      schema: SCHEMA,
    });
    expect(v.run.waiting).toEqual(v.waiting);
    expect(v.links.signal).toBe(`/api/runs/${runId}/tasks/approve/signal`);
    expect(v.tasks.map((t: Json) => `${t.id}:${t.status}`)).toEqual(['build:succeeded', 'approve:running', 'deploy:pending']);
    expect(v.history.at(-1)).toMatchObject({ type: 'task.waiting', task: 'approve', for: 'signal', until: v.waiting.until });

    const listed = (status: string) => get(`/api/runs?status=${status}&limit=1000`).then((b) => b.runs as Json[]);
    const row = (await listed('waiting')).find((r) => r.runId === runId);
    expect(row).toMatchObject({
      status: 'waiting',
      waiting: { task: 'approve', for: 'signal', since: v.waiting.since, until: v.waiting.until },
    });
    expect(row!.waiting.schema).toBeUndefined();
    expect((await listed('running')).map((r) => r.runId)).not.toContain(runId);
    expect((await get('/api/runs?limit=1000')).runs.find((r: Json) => r.runId === runId)).toMatchObject({ status: 'waiting' });
    await post(`/api/runs/${runId}/cancel`, {});
    await view(runId, (x) => x.run.status === 'cancelled', 'the waiting run to cancel');
    expect((await listed('waiting')).map((r) => r.runId)).not.toContain(runId);
  });

  it('shows a delay as a wait for its time, due at its end, and a wait with timeout: never without an end', async () => {
    const remind = await start('remind');
    const v = await waiting(remind);
    expect(v.waiting).toEqual({ task: 'pause', for: 'time', since: expect.any(Number), until: v.waiting.since + 2 * HOUR });
    expect(v.links.signal).toBeUndefined();
    const forever = await start('forever');
    const f = await waiting(forever);
    expect(f.waiting).toEqual({ task: 'approve', for: 'signal', since: expect.any(Number) });
    for (const runId of [remind, forever]) await post(`/api/runs/${runId}/cancel`, {});
  });
});

describe('POST /api/runs/:runId/tasks/:task/signal', () => {
  it('needs the bearer token', async () => {
    const res = await signal('any-run', 'approve', { data: {} }, {});
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    const wrong = await signal('any-run', 'approve', { data: {} }, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
  });

  it('answers 404 for an unknown run', async () => {
    const res = await signal('no-such-run', 'approve', { data: { approver: 'ann' } });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'UNKNOWN_RUN', message: 'unknown run "no-such-run"' });
  });

  it('refuses a malformed body with every problem and its path', async () => {
    const res = await signal('no-such-run', 'approve', { reject: 5, extra: true });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_REQUEST');
    expect(res.body.error.problems.map((p: Json) => p.path).sort()).toEqual(['extra', 'reject']);
    expect(res.body.error.message).toContain('reject: expected a reason: a non-empty string, got 5');
  });

  it('approves a waiting run with data: the data is the task result and the run goes on', async () => {
    const runId = await start('approval');
    await waiting(runId);
    const res = await signal(runId, 'approve', { data: { approver: 'ann', note: 'ship it' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // The server drives the run: the signal ends the wait before the answer.
    expect(res.body).toEqual({ runId, taskId: 'approve', status: 'applied', links: expect.any(Object) });
    const done = await view(runId, (v) => v.run.status === 'succeeded', 'the approved run to succeed');
    const approved = done.history.find((e: Json) => e.type === 'task.succeeded' && e.task === 'approve');
    expect(approved.result).toEqual({ approver: 'ann', note: 'ship it' });
    expect(done.waiting).toBeNull();
    // The run has ended: a signal now changes nothing and says so.
    const late = await signal(runId, 'approve', { data: { approver: 'bob' } });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('RUN_ENDED');
  });

  it('refuses data that does not match the schema with every problem and its path, recording nothing', async () => {
    const runId = await start('approval');
    const before = await waiting(runId);
    const res = await signal(runId, 'approve', { data: { approver: 5, extra: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_SIGNAL');
    expect(res.body.error.problems.map((p: Json) => p.path).sort()).toEqual(['data.approver', 'data.extra'].sort());
    const missing = await signal(runId, 'approve', {});
    expect(missing.status).toBe(400);
    expect(missing.body.error.problems.map((p: Json) => p.path)).toEqual(['data']);
    const notSignal = await signal(runId, 'build', { data: {} });
    expect(notSignal.status).toBe(400);
    expect(notSignal.body.error.problems).toEqual([{ path: 'taskId', message: 'task "build" does not wait for a signal' }]);
    const after = await get(`/api/runs/${runId}`);
    expect(after.history).toHaveLength(before.history.length);
    expect(after.run.status).toBe('waiting');
    await post(`/api/runs/${runId}/cancel`, {});
  });

  it('rejects a waiting run with a reason: the task fails for good', async () => {
    const runId = await start('approval');
    await waiting(runId);
    const empty = await signal(runId, 'approve', { reject: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.problems).toEqual([{ path: 'reject', message: 'expected a reason: a non-empty string' }]);
    const res = await signal(runId, 'approve', { reject: 'not this week' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const failed = await view(runId, (v) => v.run.status === 'failed', 'the rejected run to fail');
    const entry = failed.history.find((e: Json) => e.type === 'task.failed' && e.task === 'approve');
    expect(entry.error).toMatchObject({ code: 'SIGNAL_REJECTED', retriable: false, message: 'rejected: not this week' });
    expect(failed.tasks.find((t: Json) => t.id === 'deploy').status).toBe('skipped');
  });

  it('answers 409 NOT_WAITING for a wait the run has not reached', async () => {
    const runId = await start('approval-slow-build');
    await view(runId, (v) => v.state?.task === 'build', 'the slow build to run');
    const res = await signal(runId, 'approve', { data: { approver: 'ann' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('NOT_WAITING');
    expect((await get(`/api/runs/${runId}`)).history.map((e: Json) => e.type)).toEqual(['run.started', 'task.started']);
    await post(`/api/runs/${runId}/cancel`, {});
  });

  it('counts a second signal for a wait that has ended as a duplicate', async () => {
    const runId = await start('approval-slow-deploy');
    await waiting(runId);
    expect((await signal(runId, 'approve', { data: { approver: 'ann' } })).status).toBe(200);
    await view(runId, (v) => v.state?.task === 'deploy', 'the deploy to run');
    const again = await signal(runId, 'approve', { data: { approver: 'bob' } });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ status: 'ignored', reason: 'duplicate' });
    const done = await view(runId, (v) => v.run.status === 'succeeded', 'the run to succeed');
    expect(done.history.find((e: Json) => e.type === 'task.succeeded' && e.task === 'approve').result).toEqual({ approver: 'ann' });
    expect(done.history.some((e: Json) => e.type === 'event.ignored' && e.reason === 'duplicate')).toBe(true);
  });
});
