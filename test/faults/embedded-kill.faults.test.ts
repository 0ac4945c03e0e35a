// Embedded mode: `lockstep run <file> --store <db>` SIGKILLed at random moments, then `lockstep resume`d (and
// the resume killed again, at random), until each run has ended. No task that had finished runs again, finally
// tasks run once, and attempts never overlap: resume stops the killed process's orphaned attempt first. The checker
// reads the SQLite store.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { jsonLines } from '../support/cli.js';
import { pool, spawnCli, storedRuns } from '../support/crash-sequence.js';
import { attemptLine, checkEmbedded, loggedExecutions, resumeBreaks, stoppedTrap } from './support/attempt-log.js';
import { scenarioRow } from './support/deployment.js';
import { PROFILE, RUNS, recordScenario } from './support/report.js';
import { seededRandom } from './support/seeded-random.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-embedded-kill-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PARALLEL = 4;
const MAX_KILLS = 3;
/**
 * Each kill costs a process start (seconds on a busy 2-core machine), so this scenario runs fewer runs than the
 * Kafka ones: every one of them is killed at least once.
 */
const EMBEDDED_RUNS = Math.min(RUNS, PROFILE === 'long' ? 40 : 16);
const dir = mkdtempSync(join(scratch, 'embedded-kill-'));
const store = join(dir, 'lockstep.db');
const log = join(dir, 'executions.log');

// Each attempt logs its start and its end (or `stopped`); with $FAIL set, t4 fails, so the compensations of t1..t3 run.
const body = [
  attemptLine('start'),
  stoppedTrap,
  // t2 works long enough for a kill to leave it running, for resume to stop.
  'if [ "$LOCKSTEP_TASK_ID" = t2 ]; then sleep 3; else sleep 0.05; fi',
  `if [ "$LOCKSTEP_TASK_ID" = t4 ] && [ "$LOCKSTEP_PHASE" = main ] && [ -n "$FAIL" ]; then ${attemptLine('end')}; exit 1; fi`,
  attemptLine('end'),
].join('; ');
const task = (id: string, compensate: boolean) =>
  `  - id: ${id}\n    run: ${JSON.stringify(body)}\n${compensate ? `    compensate:\n      run: ${JSON.stringify(body)}\n` : ''}`;
const file = join(dir, 'crashy.yaml');
writeFileSync(
  file,
  `name: crashy\nversion: 1\ntasks:\n${['t1', 't2', 't3', 't4'].map((t) => task(t, t !== 't4')).join('')}finally:\n${task('fin', false)}`,
);

/** Starts a `run` (or `resume`) and SIGKILLs it `killAfterMs` after its first output, unless undefined. */
async function killable(args: string[], env: NodeJS.ProcessEnv, killAfterMs: number | undefined) {
  const p = spawnCli(args, env, dir);
  let timer: NodeJS.Timeout | undefined;
  if (killAfterMs !== undefined)
    p.child.stdout!.once('data', () => {
      timer = setTimeout(() => p.child.kill('SIGKILL'), killAfterMs);
    });
  const done = await p.done;
  clearTimeout(timer);
  return done;
}

it(`embedded-kill: ${EMBEDDED_RUNS} runs SIGKILLed at random moments (up to ${MAX_KILLS} times each), then resumed`, async () => {
  const random = seededRandom('embedded-kill');
  const t0 = Date.now();
  let kills = 0;
  let unrecorded = 0;
  const runIds: string[] = [];
  const plans = Array.from({ length: EMBEDDED_RUNS }, (_, i) => ({
    fail: i % 2 === 1,
    kills: Array.from({ length: random.int(1, MAX_KILLS) }, () => random.int(0, 3_000)),
  }));
  await pool(
    PARALLEL,
    plans.map((plan) => async () => {
      const env = { EXEC_LOG: log, ...(plan.fail ? { FAIL: '1' } : {}) };
      const killsLeft = [...plan.kills];
      let runId: string | undefined;
      while (!runId) {
        const first = await killable(['run', file, '--json', '--store', store], env, killsLeft.shift());
        if (first.signal === 'SIGKILL') kills++;
        runId = jsonLines(first.stdout).find((l) => l.type === 'run.started')?.runId as string | undefined;
        if (!runId) unrecorded++; // killed before its start was recorded: nothing to resume, run it again
      }
      runIds.push(runId);
      for (;;) {
        const stored = (await storedRuns(store)).find((r) => r.record.runId === runId);
        if (stored && stored.record.status !== 'running') break;
        const resumed = await killable(['resume', runId, '--json', '--store', store], env, killsLeft.shift());
        if (resumed.signal === 'SIGKILL') kills++;
        else expect([0, 1], resumed.stderr).toContain(resumed.code);
      }
    }),
  );
  const runs = (await storedRuns(store)).filter((r) => runIds.includes(r.record.runId));
  expect(runs).toHaveLength(EMBEDDED_RUNS);
  const failing = new Set(
    runs.filter((r) => r.history.some((e) => e.type === 'task.failed' && e.task === 't4')).map((r) => r.record.runId),
  );
  for (const r of runs) expect(r.record.status, r.record.runId).toBe(failing.has(r.record.runId) ? 'failed' : 'succeeded');
  expect(failing.size).toBe(Math.floor(EMBEDDED_RUNS / 2));

  // No task that had finished (its success recorded) runs again; finally tasks succeed once.
  const xs = loggedExecutions(log);
  expect(resumeBreaks(runs, xs, 'fin')).toEqual([]);
  // Attempts never overlap: every orphan was stopped (SIGTERM, logged as `stopped`) before the next attempt began.
  // Executions with no end are counted; the ones that ended must not overlap.
  const { report, unended, overlapping, stopped } = checkEmbedded(runs, runIds, file, xs);
  expect(overlapping).toEqual([]);
  const row = scenarioRow('embedded-kill', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `${kills} SIGKILLs of lockstep run / resume at random moments (seed ${random.seed}), ${PARALLEL} runs at a time on one store; ${unrecorded} runs killed before their start was recorded were run again; ${stopped} orphaned attempts stopped by resume (logged by their SIGTERM trap) before their task ran again, ${unended} executions that logged no end; half the runs fail at t4 and compensate`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
}, 900_000);
