// Embedded mode, many runs in one process: `lockstep serve --store <db>` drives about 50 runs at a time and is
// SIGKILLed at random moments, then started again on the same store; every `interrupted` run is resumed through the
// API and new runs are started, until all have ended. Each kill crosses every run in flight. No task that had
// finished runs again, finally tasks run once, and no two executions of a run overlap: the resume stops the killed
// server's orphaned attempt first. The checker reads the SQLite store.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ServeProcess } from '../http/serve-process.js';
import { spawnServe } from '../http/serve-process.js';
import { pool, sleep, storedRuns } from '../support/crash-sequence.js';
import { attemptLine, checkEmbedded, loggedExecutions, resumeBreaks, stoppedTrap } from './support/attempt-log.js';
import { scenarioRow } from './support/deployment.js';
import { PROFILE, RUNS, recordScenario } from './support/report.js';
import { seededRandom } from './support/seeded-random.js';

const IN_FLIGHT = 50;
/** Time from the resumes' answers to the kill: less than a run takes on a quiet machine, so that most runs cross a kill. */
const KILL_AFTER_MS: readonly [number, number] = [1_000, 4_000];
/**
 * In every tenth run, t2's first attempt works 30 s, longer than a restart and its resumes take, so that a kill
 * leaves it running and the resume must stop it; later attempts are short, so that the run gets past t2 between
 * kills.
 */
const SLOW_EVERY = 10;
const TOKEN = 'embedded-serve-kill';
const dir = mkdtempSync(join(tmpdir(), 'lockstep-embedded-serve-kill-'));
const store = join(dir, 'lockstep.db');
const log = join(dir, 'executions.log');
const machines = join(dir, 'machines');

// Five short tasks; with `"fail":true` in the input t5 fails, so the compensations of t1..t4 run; with
// `"slow":true` t2's first attempt works 30 s. Each attempt logs its start and its end, or `stopped` when a resume stops it as an
// orphan (SIGTERM).
const body = [
  attemptLine('start'),
  stoppedTrap,
  `case "$LOCKSTEP_TASK_ID.$LOCKSTEP_PHASE.$LOCKSTEP_INPUT" in t2.main.*'"slow":true'*) if [ "$LOCKSTEP_ATTEMPT" = 1 ]; then sleep 30; else sleep 0.3; fi;; t2.main.*) sleep 0.3;; t4.main.*) sleep 0.2;; t5.main.*) sleep 0.15;; t3.main.*) sleep 0.1;; *) sleep 0.05;; esac`,
  `case "$LOCKSTEP_TASK_ID.$LOCKSTEP_PHASE.$LOCKSTEP_INPUT" in t5.main.*'"fail":true'*) ${attemptLine('end')}; exit 1;; esac`,
  attemptLine('end'),
].join('; ');
const task = (id: string, compensate: boolean) =>
  `  - id: ${id}\n    run: ${JSON.stringify(body)}\n${compensate ? `    compensate:\n      run: ${JSON.stringify(body)}\n` : ''}`;
mkdirSync(machines);
const file = join(machines, 'served.yaml');
writeFileSync(
  file,
  `name: served\nversion: 1\ntasks:\n${['t1', 't2', 't3', 't4', 't5'].map((t) => task(t, t !== 't5')).join('')}finally:\n${task('fin', false)}`,
);

async function api(serve: ServeProcess, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${serve.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const listed = async (serve: ServeProcess, status: string) =>
  ((await api(serve, 'GET', `/api/runs?status=${status}&limit=1000`)).body.runs as Array<{ runId: string }>).map((r) => r.runId);

it(`embedded-serve-kill: ${RUNS} runs in one lockstep serve, SIGKILLed at random moments and resumed over HTTP`, async () => {
  const random = seededRandom('embedded-serve-kill');
  const t0 = Date.now();
  const plans = Array.from({ length: RUNS }, (_, i) => ({ i, fail: i % 2 === 1, slow: i % SLOW_EVERY === 0 }));
  const toStart = plans.map((p) => p.i);
  /** Runs left running in the store by each kill: the runs that crossed it. */
  const crossedAt: number[] = [];
  const crossed = new Set<string>();
  let interrupted = new Set<string>();
  let unrecorded = 0;
  let resumed = 0;
  /** Per restart: how long the server took to listen, and to answer the resumes. */
  const restarts: Array<{ readyMs: number; resumedMs: number }> = [];
  /** Answers that a live server must not give, and errors while it was alive. */
  const unexpected: string[] = [];

  for (let generation = 0; ; generation++) {
    if (generation > 40 * Math.ceil(RUNS / IN_FLIGHT)) throw new Error(`${toStart.length} runs not started after ${generation} restarts`);
    const spawnedAt = Date.now();
    const serve = await spawnServe(['--machines', machines, '--store', store], {
      cwd: dir,
      env: { LOCKSTEP_TOKEN: TOKEN, EXEC_LOG: log },
      timeoutMs: 60_000,
    });
    const ready = Date.now();
    let killed = false;
    const attempted: number[] = [];
    const alive = (what: string) => (error: unknown) => {
      if (!killed) unexpected.push(`${what}: ${(error as Error).message}`);
    };
    const work = async (resumesAnswered: () => void): Promise<'done' | 'killed'> => {
      // The server lists as interrupted exactly the runs the last kill left running.
      const listedInterrupted = await listed(serve, 'interrupted');
      if ([...listedInterrupted].sort().join() !== [...interrupted].sort().join())
        unexpected.push(`generation ${generation}: interrupted ${listedInterrupted.length}, the store had ${interrupted.size} running`);
      await pool(
        IN_FLIGHT,
        listedInterrupted.map((runId) => async () => {
          const r = await api(serve, 'POST', `/api/runs/${runId}/resume`);
          if (r.status === 202) resumed++;
          else if (!killed) unexpected.push(`resume ${runId}: ${r.status} ${JSON.stringify(r.body)}`);
        }),
      );
      resumesAnswered();
      if (generation > 0) restarts.push({ readyMs: ready - spawnedAt, resumedMs: Date.now() - ready });
      const posts = new Set<Promise<void>>();
      while (!killed) {
        const running = (await listed(serve, 'running')).length;
        if (toStart.length === 0 && posts.size === 0 && running === 0) return 'done';
        for (let n = running + posts.size; n < IN_FLIGHT && toStart.length > 0 && !killed; n++) {
          const i = toStart.shift()!;
          attempted.push(i);
          const post = api(serve, 'POST', '/api/runs', { sequence: 'served', input: plans[i] })
            .then((r) => {
              if (r.status !== 201 && r.status !== 202) unexpected.push(`start ${i}: ${r.status} ${JSON.stringify(r.body)}`);
            })
            .catch(alive(`start ${i}`))
            .finally(() => posts.delete(post));
          posts.add(post);
        }
        await sleep(100);
      }
      await Promise.all(posts);
      return 'killed';
    };
    let resumesAnswered = () => {};
    const answered = new Promise<void>((r) => (resumesAnswered = r));
    const working = work(resumesAnswered).catch((error: unknown) => {
      alive(`generation ${generation}`)(error);
      return 'killed' as const;
    });
    const killAfter = random.int(...KILL_AFTER_MS);
    const outcome = await Promise.race([working, answered.then(() => sleep(killAfter)).then(() => 'kill' as const)]);
    if (outcome === 'done') {
      await serve.stop();
      break;
    }
    killed = true;
    const exited = new Promise((r) => serve.child.once('exit', r));
    serve.child.kill('SIGKILL');
    await exited;
    await working;
    // The store, with the server dead, tells which starts were recorded and which runs the kill crossed.
    const runs = await storedRuns(store);
    const recorded = new Set(runs.map((r) => (r.record.input as { i: number }).i));
    for (const i of attempted)
      if (!recorded.has(i)) {
        unrecorded++; // killed before its start was recorded: it never began, start it again
        toStart.push(i);
      }
    interrupted = new Set(runs.filter((r) => r.record.status === 'running').map((r) => r.record.runId));
    crossedAt.push(interrupted.size);
    for (const id of interrupted) crossed.add(id);
  }

  expect(unexpected).toEqual([]);
  const runs = await storedRuns(store);
  const runIds = runs.map((r) => r.record.runId);
  // Each planned run started once, and ended as planned.
  expect(runs.map((r) => (r.record.input as { i: number }).i).sort((a, b) => a - b)).toEqual(plans.map((p) => p.i));
  for (const r of runs)
    expect(r.record.status, r.record.runId).toBe(plans[(r.record.input as { i: number }).i]!.fail ? 'failed' : 'succeeded');

  const xs = loggedExecutions(log);
  // Executions with no end are counted; the ones that ended must not overlap.
  const { report, unended, overlapping, stopped } = checkEmbedded(runs, runIds, file, xs);
  const crossings = crossedAt.reduce((a, b) => a + b, 0);
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : (xs.reduce((a, b) => a + b, 0) / xs.length / 1000).toFixed(1));
  const row = scenarioRow('embedded-serve-kill', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `${crossedAt.length} SIGKILLs of one lockstep serve (${KILL_AFTER_MS.join('-')} ms after its resumes were answered, seed ${random.seed}), up to ${IN_FLIGHT} runs in flight; runs crossing a kill: ${crossings} (${crossed.size} distinct runs of ${RUNS}; in flight at each kill: ${crossedAt.join(' ')}); ${resumed} resumes over HTTP (a restart listened after ${mean(restarts.map((r) => r.readyMs))} s and answered its resumes ${mean(restarts.map((r) => r.resumedMs))} s later, on average); ${unrecorded} starts killed before they were recorded were started again; ${stopped} orphaned attempts stopped by a resume (logged by their SIGTERM trap) before their task ran again, ${unended} executions that logged no end, ${overlapping.length} overlapping executions; half the runs fail at t5 and compensate`,
  });
  // The row is recorded before the checks, so that the table shows a failing scenario's figures too.
  recordScenario(row);
  console.log(row.notes);
  expect(resumeBreaks(runs, xs, 'fin')).toEqual([]);
  expect(overlapping).toEqual([]);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
  if (PROFILE === 'long') expect(crossings).toBeGreaterThanOrEqual(RUNS);
}, 1_800_000);
