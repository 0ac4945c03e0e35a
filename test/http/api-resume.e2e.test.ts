// `interrupted` through the real CLI and the real server: a SIGKILLed `lockstep run` is listed as interrupted by
// `lockstep runs` and the API, and POST /api/runs/:id/resume drives it to completion in the server.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';
import { killOrphans, readLog, sleep, spawnCli, writeCrashSequence } from '../support/crash-sequence.js';
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-api-resume-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TOKEN = 'resume-test-token';
const dir = mkdtempSync(join(scratch, 'api-resume-'));
const machines = join(dir, 'machines');
mkdirSync(machines);
const sequence = writeCrashSequence(machines);
const store = join(dir, 'runs.db');
const log = join(dir, 'log');
// The first attempt of t2 never ends: the run is killed there, and resumed attempts go on.
const env = { CRASH_LOG: log, CRASH_HOLD: 't2', CRASH_SLEEP: '0.01' };
let serve: ServeProcess;

async function call(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; body: Record<string, any> }> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  const res = await fetch(`${serve.base}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Runs the crash sequence with the real CLI and SIGKILLs it while t2 runs; returns the run id. */
async function killedRun(): Promise<string> {
  const run = spawnCli(['run', sequence, '--json', '--store', store], env, dir);
  while (!readLog(log).some((l) => l.kind === 'start' && l.task === 't2')) await sleep(5);
  run.child.kill('SIGKILL');
  const killed = await run.done;
  expect(killed.signal).toBe('SIGKILL');
  killOrphans(readLog(log));
  return jsonLines(killed.stdout)[0]!.runId as string;
}

beforeAll(async () => {
  serve = await spawnServe(['--machines', machines, '--store', store], { cwd: dir, env: { ...env, LOCKSTEP_TOKEN: TOKEN } });
}, 30_000);
afterAll(async () => {
  await serve?.stop();
});

describe('interrupted runs', () => {
  it('are listed as interrupted by the CLI and the API, and resume to completion through the API', async () => {
    const runId = await killedRun();

    const cli = jsonLines((await lockstep(['runs', '--status', 'interrupted', '--json', '--store', store])).stdout);
    expect(cli).toMatchObject([{ runId, status: 'interrupted', task: 't2' }]);
    expect(jsonLines((await lockstep(['runs', '--status', 'running', '--json', '--store', store])).stdout)).toEqual([]);
    const table = await lockstep(['runs', '--store', store]);
    expect(table.stdout).toMatch(new RegExp(`${runId}\\s+crash v1\\s+interrupted\\s+.*stopped at t2: lockstep resume ${runId}`));
    expect((await lockstep(['show', runId, '--store', store])).stdout).toContain(
      `: interrupted (no live process drives it: \`lockstep resume ${runId}\` continues it)`,
    );

    const listed = await call('/api/runs?status=interrupted');
    expect(listed.status).toBe(200);
    expect(listed.body.runs.map((r: { runId: string; status: string }) => [r.runId, r.status])).toEqual([[runId, 'interrupted']]);
    expect((await call('/api/runs?status=running')).body.runs).toEqual([]);
    const view = await call(`/api/runs/${runId}`);
    expect(view.body.run.status).toBe('interrupted');
    expect(view.body.links.resume).toBe(`/api/runs/${runId}/resume`);
    expect((await call(`/api/runs/${runId}/rerun`, { method: 'POST', body: {} })).body.error).toMatchObject({
      code: 'RUN_ACTIVE',
      message: expect.stringContaining('it is interrupted: resume it'),
    });

    expect((await call(`/api/runs/${runId}/resume`, { method: 'POST', body: {}, token: null })).status).toBe(401);
    const resumed = await call(`/api/runs/${runId}/resume`, { method: 'POST', body: {} });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(202);
    expect(resumed.body).toMatchObject({ runId, resuming: true });
    await expect.poll(async () => (await call(`/api/runs/${runId}`)).body.run.status, { timeout: 20_000, interval: 100 }).toBe('succeeded');
    const { history } = (await call(`/api/runs/${runId}`)).body as { history: Array<{ type: string; task?: string; attempt?: number }> };
    expect(history.filter((e) => e.type === 'task.interrupted')).toMatchObject([{ task: 't2', attempt: 1 }]);
    expect(history.filter((e) => e.type === 'task.started').map((e) => `${e.task}#${e.attempt}`)).toEqual([
      't1#1',
      't2#1',
      't2#2',
      't3#1',
      't4#1',
      't5#1',
      'fin#1',
    ]);

    const again = await call(`/api/runs/${runId}/resume`, { method: 'POST', body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      message: expect.stringContaining('already ended (succeeded); nothing to resume'),
    });
    expect((await call('/api/runs?status=interrupted')).body.runs).toEqual([]);
    expect((await lockstep(['runs', '--status', 'succeeded', '--json', '--store', store])).stdout).toContain(runId);
  }, 60_000);

  it('a run a live process drives is not resumed: 409 RUN_LOCKED, nothing changed', async () => {
    const started = await call('/api/runs', { method: 'POST', body: { sequence: 'crash' } });
    const runId = started.body.runId as string;
    // Its t2 holds (attempt 1), driven by the server itself.
    await expect.poll(async () => (await call(`/api/runs/${runId}`)).body.run.currentTask, { timeout: 20_000, interval: 100 }).toBe('t2');
    const refused = await call(`/api/runs/${runId}/resume`, { method: 'POST', body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'RUN_LOCKED', message: expect.stringContaining('a live process drives it') });
    expect((await call(`/api/runs/${runId}`)).body.run.status).toBe('running');
    expect((await call(`/api/runs/${runId}/cancel`, { method: 'POST', body: {} })).status).toBe(202);
    await expect.poll(async () => (await call(`/api/runs/${runId}`)).body.run.status, { timeout: 30_000, interval: 100 }).toBe('cancelled');
  }, 60_000);

  it('the rerun plan of a compensated run says which tasks run again because their compensation ran', async () => {
    const run = await lockstep(['run', sequence, '--json', '--store', store], { env: { ...env, CRASH_HOLD: '', CRASH_FAIL: '1' } });
    expect(run.code).toBe(1);
    const runId = jsonLines(run.stdout)[0]!.runId as string;
    const plan = await call(`/api/runs/${runId}/rerun-plan?from=t5`);
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ from: 't1', requested: 't5', reused: [], rerun: ['t1', 't2', 't3', 't4', 't5'] });
    expect(plan.body.steps).toEqual([
      ...['t1', 't2', 't3', 't4'].map((t) => ({ taskId: t, action: 'runs', reason: `its compensation ran in run ${runId}` })),
      { taskId: 't5', action: 'runs', reason: `failed in run ${runId}` },
    ]);
  }, 60_000);
});
