import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness();
});
afterAll(() => h.close());

const auth = { authorization: `Bearer ${TOKEN}` };
type Json = Record<string, any>;

const post = (url: string, payload?: unknown) =>
  h.app.inject({ method: 'POST', url, headers: auth, ...(payload === undefined ? {} : { payload: payload as object }) });
const get = async (url: string) => {
  const res = await h.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Json };
};
const runState = (runId: string, predicate: (view: Json) => boolean, what: string) =>
  until(async () => {
    const { body } = await get(`/api/runs/${runId}`);
    return predicate(body) ? body : undefined;
  }, what);

describe('POST /api/runs', () => {
  it('starts a run and answers 201 once it is recorded', async () => {
    const res = await post('/api/runs', { sequence: 'gated', input: { n: 1 } });
    expect(res.statusCode).toBe(201);
    const body = res.json() as Json;
    expect(body).toMatchObject({
      runId: expect.any(String),
      recorded: true,
      links: { self: `/api/runs/${body.runId}`, events: `/api/runs/${body.runId}/events` },
    });
    const view = await runState(body.runId, (v) => v.state?.node === 'main.prepare.running', 'prepare to run');
    expect(view.run).toMatchObject({ runId: body.runId, sequence: 'gated', version: '1', status: 'running', input: { n: 1 } });
    expect(view.run.definition).toBeUndefined();
    expect(view.state).toMatchObject({
      kind: 'running',
      task: 'prepare',
      attempt: 1,
      phase: 'main',
      activeNodes: ['main', 'main.prepare', 'main.prepare.running'],
    });
    expect(view.tasks).toEqual([
      {
        id: 'prepare',
        status: 'running',
        attempts: 1,
        reused: false,
        compensation: { id: 'prepare.compensate', status: 'pending', attempts: 0 },
      },
      { id: 'build', status: 'pending', attempts: 0, reused: false },
      { id: 'publish', status: 'pending', attempts: 0, reused: false },
    ]);
    expect(view.history.map((e: Json) => e.type)).toEqual(['run.started', 'task.started']);
    expect(view.history[1]).not.toHaveProperty('event');
    await post(`/api/runs/${body.runId}/cancel`, {});
    await runState(body.runId, (v) => v.run.status === 'cancelled', 'the run to cancel');
  });

  it('rejects malformed bodies with every problem and its path', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'invalid request body: sequence: required'],
      [{ sequence: '' }, 'invalid request body: sequence: expected a non-empty string'],
      [{ sequence: 42 }, 'invalid request body: sequence: expected a string, got 42'],
      [{ sequence: 'gated', extra: true }, 'invalid request body: extra: unknown key'],
      [[1, 2], 'invalid request body: (root): expected object, got a list'],
    ];
    for (const [payload, message] of cases) {
      const res = await post('/api/runs', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error, JSON.stringify(payload)).toMatchObject({ code: 'INVALID_REQUEST', message });
    }
    const problems = (await post('/api/runs', { extra: 1 })).json().error.problems;
    expect(problems).toHaveLength(2);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'extra', message: 'unknown key' },
        { path: 'sequence', message: 'required' },
      ]),
    );
  });

  it('rejects a body that is not JSON, or not sent as JSON', async () => {
    const bad = await h.app.inject({
      method: 'POST',
      url: '/api/runs',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"sequence":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/^request body is not valid JSON: /);
    const text = await h.app.inject({
      method: 'POST',
      url: '/api/runs',
      headers: { ...auth, 'content-type': 'text/plain' },
      payload: 'gated',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.message).toMatch(/send the body as JSON with "Content-Type: application\/json"$/);
  });

  it('answers 404 for an unknown sequence', async () => {
    const res = await post('/api/runs', { sequence: 'nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toEqual({ code: 'UNKNOWN_SEQUENCE', message: 'unknown sequence "nope" (served: "gated", "remote")' });
  });
});

describe('GET /api/runs and /api/runs/:runId', () => {
  it('filters by status and sequence, newest first, up to the limit', async () => {
    const a = (await post('/api/runs', { sequence: 'remote' })).json().runId as string;
    const b = (await post('/api/runs', { sequence: 'remote' })).json().runId as string;
    const all = await get('/api/runs?sequence=remote');
    expect(all.status).toBe(200);
    expect(all.body.runs.map((r: Json) => r.runId)).toEqual(expect.arrayContaining([a, b]));
    expect(all.body.runs.every((r: Json) => r.sequence === 'remote')).toBe(true);
    expect((await get('/api/runs?sequence=remote&limit=1')).body.runs).toHaveLength(1);
    expect((await get('/api/runs?status=running&sequence=remote')).body.runs.map((r: Json) => r.runId)).toEqual(
      expect.arrayContaining([a, b]),
    );
    expect((await get('/api/runs?status=succeeded&sequence=remote')).body.runs).toEqual([]);
    expect((await get('/api/runs?sequence=gated')).body.runs.every((r: Json) => r.sequence === 'gated')).toBe(true);
    for (const id of [a, b]) await post(`/api/runs/${id}/cancel`, {});
  });

  it('rejects bad filters precisely', async () => {
    const cases: Array<[string, string]> = [
      [
        'status=done',
        'invalid query: status: expected one of "running", "waiting", "interrupted", "succeeded", "failed", "cancelled", got "done"',
      ],
      ['limit=0', 'invalid query: limit: expected an integer from 1 to 1000, got "0"'],
      ['limit=abc', 'invalid query: limit: expected an integer from 1 to 1000, got "abc"'],
      ['limit=2.5', 'invalid query: limit: expected an integer from 1 to 1000, got "2.5"'],
      ['limit=1001', 'invalid query: limit: expected an integer from 1 to 1000, got "1001"'],
      ['colour=red', 'invalid query: colour: unknown key'],
    ];
    for (const [q, message] of cases) {
      const res = await get(`/api/runs?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.message, q).toBe(message);
    }
  });

  it('answers 404 for an unknown run on every run endpoint', async () => {
    for (const url of ['/api/runs/nope', '/api/runs/nope/graph.svg', '/api/runs/nope/rerun-plan', '/api/runs/nope/events']) {
      const res = await get(url);
      expect(res.status, url).toBe(404);
      expect(res.body.error, url).toEqual({ code: 'UNKNOWN_RUN', message: 'unknown run "nope"' });
    }
    for (const url of ['/api/runs/nope/cancel', '/api/runs/nope/rerun']) {
      const res = await post(url, {});
      expect(res.statusCode, url).toBe(404);
    }
  });

  it("draws a run's own graph, in the task view by default", async () => {
    const id = (await post('/api/runs', { sequence: 'remote' })).json().runId as string;
    const res = await h.app.inject({ method: 'GET', url: `/api/runs/${id}/graph.svg?view=machine` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('id="main.bill.running"');
    const tasks = await h.app.inject({ method: 'GET', url: `/api/runs/${id}/graph.svg` });
    expect(tasks.statusCode).toBe(200);
    expect(tasks.body).toContain('<g id="task:bill" class="node');
    expect(tasks.body).not.toContain('main.bill.running');
    const bad = await h.app.inject({ method: 'GET', url: `/api/runs/${id}/graph.svg?view=Tasks` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: { code: 'INVALID_REQUEST', message: 'invalid query: view: expected "tasks" or "machine", got "Tasks"' },
    });
    await post(`/api/runs/${id}/cancel`, {});
  });
});

describe('a run from start to end, then cancel and rerun', () => {
  it('follows the run, refuses to cancel it once ended, and reruns it from a step', async () => {
    const runId = (await post('/api/runs', { sequence: 'gated' })).json().runId as string;
    await runState(runId, (v) => v.state?.node === 'main.prepare.running', 'prepare');
    h.open('prepare');
    const building = await runState(runId, (v) => v.state?.node === 'main.build.running', 'build');
    expect(building.state.completed).toEqual(['prepare']);
    expect(building.tasks[0]).toMatchObject({ id: 'prepare', status: 'succeeded' });

    const rerunEarly = await post(`/api/runs/${runId}/rerun`, { from: 'build' });
    expect(rerunEarly.statusCode).toBe(409);
    expect(rerunEarly.json().error).toEqual({
      code: 'RUN_ACTIVE',
      message: `run "${runId}" has not ended (cancel it or wait for it to end before rerunning it)`,
    });

    h.open('fail-publish');
    h.open('build');
    h.open('publish');
    const failed = await runState(runId, (v) => v.run.status === 'failed', 'the run to fail');
    expect(failed.state).toMatchObject({ node: 'failed', kind: 'failed', failedTask: 'publish', compensated: ['prepare.compensate'] });
    expect(failed.history.map((e: Json) => `${e.type}${e.task ? ` ${e.task}` : ''}`)).toEqual([
      'run.started',
      'task.started prepare',
      'task.succeeded prepare',
      'task.started build',
      'task.succeeded build',
      'task.started publish',
      'task.failed publish',
      'task.started prepare.compensate',
      'task.succeeded prepare.compensate',
      'task.started cleanup',
      'task.succeeded cleanup',
      'run.failed',
    ]);

    const cancel = await post(`/api/runs/${runId}/cancel`, {});
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json().error).toEqual({
      code: 'RUN_ENDED',
      message: `run "${runId}" already ended (failed); only running runs can be cancelled`,
    });

    const plan = await get(`/api/runs/${runId}/rerun-plan`);
    expect(plan.status).toBe(200);
    // prepare's compensation ran, so its result is not reused: the rerun starts there.
    expect(plan.body).toEqual({
      runId,
      from: 'prepare',
      reused: [],
      rerun: ['prepare', 'build', 'publish'],
      steps: [
        { taskId: 'prepare', action: 'runs', reason: `its compensation ran in run ${runId}` },
        { taskId: 'build', action: 'runs', reason: 'comes after prepare, which runs again' },
        { taskId: 'publish', action: 'runs', reason: `failed in run ${runId}` },
      ],
      compensations: [{ id: 'prepare.compensate', of: 'prepare', reused: false }],
      finally: ['cleanup'],
    });
    const fromBuild = await get(`/api/runs/${runId}/rerun-plan?from=build`);
    expect(fromBuild.body).toMatchObject({ from: 'prepare', requested: 'build', reused: [], rerun: ['prepare', 'build', 'publish'] });
    const unknown = await get(`/api/runs/${runId}/rerun-plan?from=deploy`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toEqual({
      code: 'UNKNOWN_TASK',
      message: 'cannot rerun from "deploy": sequence gated has no main task "deploy" (its main tasks: "prepare", "build", "publish")',
    });
    const badQuery = await get(`/api/runs/${runId}/rerun-plan?start=build`);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toBe('invalid query: start: unknown key');
    const badBody = await post(`/api/runs/${runId}/rerun`, { from: 7 });
    expect(badBody.statusCode).toBe(400);
    expect(badBody.json().error.message).toBe('invalid request body: from: expected a string, got 7');

    // Rerun from build: prepare was undone by its compensation, so it runs again too, then build and publish (which now pass).
    rmSync(join(h.gates, 'fail-publish'));
    const rerun = await post(`/api/runs/${runId}/rerun`, { from: 'build' });
    expect(rerun.statusCode).toBe(201);
    const again = rerun.json() as Json;
    expect(again).toMatchObject({ rerunOf: runId, plan: { from: 'prepare', requested: 'build', rerun: ['prepare', 'build', 'publish'] } });
    const done = await runState(again.runId, (v) => v.run.status !== 'running', 'the rerun to end');
    expect(done.run).toMatchObject({ status: 'succeeded', rerunOf: runId });
    expect(done.history[0]).toMatchObject({ type: 'run.started', rerunOf: runId });
    expect(done.history[0].reused ?? []).toEqual([]);
    expect(done.history.filter((e: Json) => e.type === 'task.started').map((e: Json) => e.task)).toEqual([
      'prepare',
      'build',
      'publish',
      'cleanup',
    ]);
    expect(done.tasks.map((t: Json) => [t.id, t.status, t.reused])).toEqual([
      ['prepare', 'succeeded', false],
      ['build', 'succeeded', false],
      ['publish', 'succeeded', false],
    ]);
    expect(done.state).toMatchObject({ node: 'succeeded', kind: 'succeeded' });
  });

  it('cancels a running run: compensations and finally tasks still run', async () => {
    const runId = (await post('/api/runs', { sequence: 'gated' })).json().runId as string;
    await runState(runId, (v) => v.state?.node === 'main.prepare.running', 'prepare');
    const res = await post(`/api/runs/${runId}/cancel`, { reason: 'operator said so' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ runId, cancelling: true });
    const done = await runState(runId, (v) => v.run.status === 'cancelled', 'the cancel');
    expect(done.run.reason).toBe('operator said so');
    expect(done.history.map((e: Json) => e.type)).toContain('run.cancelling');
    expect(done.history.filter((e: Json) => e.type === 'task.started').map((e: Json) => e.task)).toEqual(['prepare', 'cleanup']);
    const bad = await post(`/api/runs/${runId}/cancel`, { reason: '' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/^invalid request body: reason: /);
  });

  it('refuses to rerun from a task whose predecessor never succeeded', async () => {
    const runId = (await post('/api/runs', { sequence: 'gated' })).json().runId as string;
    await runState(runId, (v) => v.state?.node === 'main.prepare.running' || v.run.status !== 'running', 'prepare');
    await post(`/api/runs/${runId}/cancel`, {});
    await runState(runId, (v) => v.run.status === 'cancelled', 'the cancel');
    const res = await post(`/api/runs/${runId}/rerun`, { from: 'publish' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(
      /^cannot rerun run .* from "publish": task "(prepare|build)" before it (failed|did not run) in that run/,
    );
  });
});

describe('runs this server does not drive', () => {
  it('refuses to cancel or report to a run left running by a process that stopped', async () => {
    const runId = 'left-over-run';
    const now = Date.now();
    await h.store.create(
      {
        runId,
        sequence: 'remote',
        version: '1',
        definition: 'x',
        definitionHash: 'x',
        input: null,
        status: 'running',
        createdAt: now,
        updatedAt: now,
      },
      [{ type: 'run.started', runId, at: now, sequence: 'remote', version: '1', input: null }],
    );
    const message = `run "${runId}" is not driven by this server: the process that ran it stopped or still runs it; continue it with \`lockstep resume ${runId}\``;
    const cancel = await post(`/api/runs/${runId}/cancel`, {});
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json().error).toEqual({ code: 'RUN_LOCKED', message });
    const report = {
      v: 1,
      id: 'm-1',
      runId,
      taskId: 'bill',
      attempt: 1,
      time: new Date(now).toISOString(),
      type: 'task.succeeded',
      payload: {},
    };
    const ingest = await post('/api/ingest', report);
    expect(ingest.statusCode).toBe(409);
    expect(ingest.json().error.message).toBe(message);
    // It is still listed and shown, with the state its history gives: no live process drives it, so it is interrupted.
    const shown = await get(`/api/runs/${runId}`);
    expect(shown.body.run.status).toBe('interrupted');
    expect((await get('/api/runs?status=interrupted')).body.runs.map((r: { runId: string }) => r.runId)).toContain(runId);
  });
});
