import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines } from '../support/cli.js';
import {
  checkCrashInvariants,
  FINALLY_TASK,
  killOrphans,
  MAIN_TASKS,
  pool,
  readLog,
  sleep,
  spawnCli,
  storedRuns,
  writeCrashSequence,
} from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-crash-resume-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Crash test: SIGKILL `lockstep run` while a task runs, then `lockstep resume` must finish the run with
// nothing before the killed task executed twice, the killed attempt recorded as interrupted, and the finally
// task run once. Kills run several at a time; every process is the real CLI.

const PARALLEL = 4;
const ROUNDS_PER_TASK = 6;
const RANDOM_KILLS = 16;

const dir = mkdtempSync(join(scratch, 'crash-'));
const sequenceFile = writeCrashSequence(dir);

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Outcome {
  readonly interrupted: string | undefined;
  readonly case: 'resumed' | 'ended before the kill' | 'killed before the run was recorded';
}

/** Kills `lockstep run` in the middle of task `k` (its first attempt never ends), then resumes. */
async function killInTask(k: string, round: number, storeFile: string): Promise<Outcome> {
  const log = join(dir, `hold-${k}-${round}.log`);
  const env = { CRASH_LOG: log, CRASH_HOLD: k };
  const run = spawnCli(['run', sequenceFile, '--json', '--store', storeFile], env, dir);
  await waitFor(() => readLog(log).some((l) => l.kind === 'start' && l.task === k), `${k} to start`);
  await sleep(Math.random() * 30);
  run.child.kill('SIGKILL');
  const killed = await run.done;
  expect(killed.signal).toBe('SIGKILL');
  killOrphans(readLog(log));
  const runId = jsonLines(killed.stdout)[0]?.runId as string;
  const resumed = await spawnCli(['resume', runId, '--json', '--store', storeFile], env, dir).done;
  expect(resumed.stderr).toBe('');
  expect(resumed.code).toBe(0);
  expect(jsonLines(resumed.stdout).slice(0, 2)).toMatchObject([
    { type: 'task.interrupted', task: k, attempt: 1 },
    { type: 'task.started', task: k, attempt: 2 },
  ]);
  const stored = (await storedRuns(storeFile)).find((r) => r.record.runId === runId)!;
  expect(stored.record.status).toBe('succeeded');
  const interrupted = checkCrashInvariants(stored.history, readLog(log), false);
  expect(interrupted).toBe(k);
  // The killed attempt did start executing: the kill really landed inside task k.
  expect(
    readLog(log)
      .filter((l) => l.kind === 'start' && l.task === k)
      .map((l) => l.attempt),
  ).toEqual([1, 2]);
  return { interrupted, case: 'resumed' };
}

/** Kills `lockstep run` after a random delay, then resumes whatever was recorded. Odd rounds take the compensation path. */
async function killAtRandom(round: number): Promise<Outcome> {
  const caseDir = mkdtempSync(join(dir, `random-${round}-`));
  const storeFile = join(caseDir, 'lockstep.db');
  const log = join(caseDir, 'log');
  const failing = round % 2 === 1;
  const env = { CRASH_LOG: log, CRASH_SLEEP: '0.06', ...(failing ? { CRASH_FAIL: '1' } : {}) };
  const run = spawnCli(['run', sequenceFile, '--json', '--store', storeFile], env, dir);
  // A random moment of the run: from its start being recorded to a little past its expected end.
  let timer: NodeJS.Timeout | undefined;
  run.child.stdout!.on('data', function armed(this: NodeJS.ReadableStream) {
    if (timer) return;
    timer = setTimeout(() => run.child.kill('SIGKILL'), Math.random() * 700);
  });
  const killed = await run.done;
  clearTimeout(timer);
  await sleep(50);
  killOrphans(readLog(log));
  const runs = await storedRuns(storeFile);
  if (runs.length === 0) {
    expect(readLog(log)).toEqual([]);
    return { interrupted: undefined, case: 'killed before the run was recorded' };
  }
  expect(runs).toHaveLength(1);
  const runId = runs[0]!.record.runId;
  if (killed.signal === null || runs[0]!.record.status !== 'running') {
    // The kill came after the run's end was recorded (or after the process exited): nothing to resume.
    expect(runs[0]!.record.status).toBe(failing ? 'failed' : 'succeeded');
    return { interrupted: checkCrashInvariants(runs[0]!.history, readLog(log), failing), case: 'ended before the kill' };
  }
  const resumed = await spawnCli(['resume', runId, '--json', '--store', storeFile], env, dir).done;
  expect(resumed.stderr).toBe('');
  expect(resumed.code).toBe(failing ? 1 : 0);
  const [after] = await storedRuns(storeFile);
  expect(after!.record.status).toBe(failing ? 'failed' : 'succeeded');
  return { interrupted: checkCrashInvariants(after!.history, readLog(log), failing), case: 'resumed' };
}

describe('crash: SIGKILL lockstep run, then lockstep resume', () => {
  it(`kills in the middle of every task, ${ROUNDS_PER_TASK} times each, on one shared store`, async () => {
    const storeFile = join(dir, 'shared.db');
    const targets = [...MAIN_TASKS, FINALLY_TASK];
    const jobs = targets.flatMap((k) => Array.from({ length: ROUNDS_PER_TASK }, (_, round) => () => killInTask(k, round, storeFile)));
    const t0 = Date.now();
    const outcomes = await pool(PARALLEL, jobs);
    const counts = Object.fromEntries(targets.map((k) => [k, outcomes.filter((o) => o.interrupted === k).length]));
    console.log(
      `[crash] ${outcomes.length} kills inside tasks ${JSON.stringify(counts)}, all resumed, in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    expect(outcomes).toHaveLength(targets.length * ROUNDS_PER_TASK);
    const runs = await storedRuns(storeFile);
    expect(runs).toHaveLength(jobs.length);
    expect(runs.every((r) => r.record.status === 'succeeded')).toBe(true);
  }, 150_000);

  it(`kills at ${RANDOM_KILLS} random moments, on the success and the compensation paths`, async () => {
    const t0 = Date.now();
    const outcomes = await pool(
      PARALLEL,
      Array.from({ length: RANDOM_KILLS }, (_, round) => () => killAtRandom(round)),
    );
    const byCase = Object.fromEntries(
      ['resumed', 'ended before the kill', 'killed before the run was recorded'].map((c) => [
        c,
        outcomes.filter((o) => o.case === c).length,
      ]),
    );
    const where = outcomes.filter((o) => o.case === 'resumed').map((o) => o.interrupted ?? '(between tasks)');
    console.log(
      `[crash] ${RANDOM_KILLS} random kills: ${JSON.stringify(byCase)}; interrupted: ${where.join(' ')}; in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    expect(outcomes).toHaveLength(RANDOM_KILLS);
  }, 150_000);
});
