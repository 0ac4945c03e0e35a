// `lockstep serve` exposes GET /metrics: runs, attempts by result (a failed attempt counts even when its retry
// succeeds), durations, runs in flight and ignored events, valid for promtool.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSamples, promtoolCheck, sampleValue } from '../support/prometheus.js';
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-metrics-'));
const sequences = join(dir, 'sequences');
const SEQUENCES: Record<string, string[]> = {
  flaky: [
    '  - id: fetch',
    `    run: '[ "$LOCKSTEP_ATTEMPT" -ge 2 ] || exit 1'`,
    '    retry: { maxAttempts: 3, backoff: { initial: 50ms } }',
  ],
  broken: ['  - id: boom', '    run: exit 3'],
  slow: ['  - id: wait', '    run: sleep 30'],
  remote: ['  - id: approve', '    queue: approvals', '  - id: ship', '    queue: approvals'],
};
mkdirSync(sequences);
for (const [name, tasks] of Object.entries(SEQUENCES))
  writeFileSync(join(sequences, `${name}.yaml`), [`name: ${name}`, 'version: 1', 'tasks:', ...tasks, ''].join('\n'));

let serve: ServeProcess;
beforeAll(async () => {
  serve = await spawnServe(['--sequences', sequences, '--store', join(dir, 'store')], { cwd: dir, env: { LOCKSTEP_TOKEN: 'secret' } });
}, 30_000);
afterAll(async () => {
  await serve?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, any>;
const post = async (path: string, body: unknown): Promise<Json> => {
  const res = await fetch(`${serve.base}${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Json;
};
const view = async (runId: string): Promise<Json> => (await (await fetch(`${serve.base}/api/runs/${runId}`)).json()) as Json;
const start = async (sequence: string): Promise<string> => (await post('/api/runs', { sequence })).runId as string;
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const ended = (runId: string, status: string) => until(`run ${runId} ${status}`, async () => (await view(runId)).run.status === status);
const started = (runId: string, task: string) =>
  until(`task ${task} of ${runId} started`, async () =>
    (await view(runId)).history.some((e: Json) => e.type === 'task.started' && e.task === task),
  );
const report = (runId: string, taskId: string, id: string) =>
  post('/api/ingest', { v: 1, id, runId, taskId, attempt: 1, time: new Date().toISOString(), type: 'task.succeeded', payload: {} });

describe('lockstep serve: GET /metrics', () => {
  it('counts runs, attempts by result, durations, runs in flight and ignored events, in a format promtool accepts', async () => {
    const flaky = await start('flaky');
    const broken = await start('broken');
    const slow = await start('slow');
    const remote = await start('remote');
    await started(slow, 'wait');
    await started(remote, 'approve');
    // While two runs wait (a long task, a remote one), they are in flight.
    await ended(flaky, 'succeeded');
    await ended(broken, 'failed');
    const during = parseSamples(await (await fetch(`${serve.base}/metrics`)).text());
    expect(sampleValue(during, 'lockstep_runs_in_flight')).toBe(2);

    await post(`/api/runs/${slow}/cancel`, { reason: 'metrics test' });
    await report(remote, 'approve', 'approve-1');
    await started(remote, 'ship');
    // The same completion again, while the run waits for its next task: ignored as a duplicate.
    await report(remote, 'approve', 'approve-2');
    await report(remote, 'ship', 'ship-1');
    await ended(slow, 'cancelled');
    await ended(remote, 'succeeded');

    const res = await fetch(`${serve.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);

    const samples = parseSamples(text);
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
    for (const sequence of ['flaky', 'broken', 'slow', 'remote']) expect(value('lockstep_runs_started_total', { sequence })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'flaky', outcome: 'succeeded' })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'broken', outcome: 'failed' })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'slow', outcome: 'cancelled' })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'remote', outcome: 'succeeded' })).toBe(1);
    // The retried task: its failed first attempt counts, and so does the attempt that succeeded.
    const fetchTask = { sequence: 'flaky', task: 'fetch', phase: 'main' };
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'failed' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'succeeded' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { sequence: 'broken', task: 'boom', result: 'failed' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { sequence: 'slow', task: 'wait', result: 'stopped' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { sequence: 'remote', task: 'approve', result: 'succeeded' })).toBe(1);
    expect(value('lockstep_task_duration_seconds_count', { sequence: 'flaky', task: 'fetch', result: 'failed' })).toBe(1);
    expect(value('lockstep_task_duration_seconds_count', { sequence: 'flaky', task: 'fetch', result: 'succeeded' })).toBe(1);
    expect(value('lockstep_run_duration_seconds_count', { sequence: 'slow', outcome: 'cancelled' })).toBe(1);
    expect(value('lockstep_run_duration_seconds_bucket', { sequence: 'slow', outcome: 'cancelled', le: '+Inf' })).toBe(1);
    expect(value('lockstep_run_duration_seconds_sum', { sequence: 'flaky', outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(value('lockstep_events_ignored_total', { reason: 'duplicate' })).toBe(1);
    expect(value('lockstep_dead_letters_total')).toBe(0);
    expect(value('lockstep_runs_in_flight')).toBe(0);
    // Never a run id as a label: one series per sequence, task and result.
    expect(text).not.toContain(flaky);
  }, 90_000);

  it('needs no token, like the other reads', async () => {
    const res = await fetch(`${serve.base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE lockstep_runs_started_total counter');
  });
});
