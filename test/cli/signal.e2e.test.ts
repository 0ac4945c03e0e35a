import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { jsonLines, lockstep } from '../support/cli.js';
import { sleep, spawnCli, storedRuns } from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-signal-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Every process here is the real built CLI: `lockstep run` drives the run in the background while `lockstep signal`
// writes to the same store from another process, as a person in a second terminal would.

/** An approval between a build (with its compensation) and a deploy that shows the approval it was given. */
const approval = (wait: { timeout?: string; after?: string } = {}) => `
name: approval
tasks:
  - id: build
    run: echo '{"artifact":"a-1"}'
    compensate: { run: echo unbuild }
  - id: approve
    wait:
      signal: true
      schema:
        type: object
        properties:
          approver: { type: string, minLength: 1 }
          ticket: { type: integer, minimum: 1 }
        required: [approver, ticket]
    timeout: ${wait.timeout ?? '48h'}
  - id: deploy
    run: '${wait.after ?? ''}echo "{\\"approved\\": $LOCKSTEP_RESULT_APPROVE}"'
`;

const delay = `
name: delay
tasks:
  - id: pause
    wait: { duration: 3s }
  - id: after
    run: echo '{"done":true}'
`;

function setup(name: string, definition: string): { file: string; store: string; dir: string } {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, definition);
  return { file, store: join(dir, 'lockstep.db'), dir };
}

type Done = ReturnType<typeof spawnCli>['done'];

/** Starts `lockstep run --json` in the background; resolves once the run waits, with its id. */
async function runUntilWaiting(file: string, store: string): Promise<{ runId: string; done: Done; kill: () => Promise<void> }> {
  const run = spawnCli(['run', file, '--json', '--store', store], {}, scratch);
  let out = '';
  const runId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the run did not wait: ${out}`)), 20_000);
    run.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('"type":"task.waiting"')) return;
      clearTimeout(timer);
      resolve(jsonLines(out)[0]!.runId as string);
    });
    void run.done.then((r) => reject(new Error(`the run ended before it waited: ${r.stdout}${r.stderr}`)));
  });
  const kill = async () => {
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
  };
  return { runId, done: run.done, kill };
}

const signal = (store: string, runId: string, ...args: string[]) => lockstep(['signal', runId, ...args, '--store', store]);

async function historyOf(store: string, runId: string): Promise<RunEntry[]> {
  return (await storedRuns(store)).find((r) => r.record.runId === runId)!.history;
}

async function pendingSignals(store: string): Promise<unknown[]> {
  const opened = SqliteRunStore.open(store, { create: false });
  try {
    return await opened.pendingSignals();
  } finally {
    await opened.close();
  }
}

const ofTask = (history: readonly RunEntry[], task: string) => history.filter((e) => 'task' in e && e.task === task);

describe('lockstep signal', () => {
  it('ends the wait with its data, which the next task gets as LOCKSTEP_RESULT_APPROVE', async () => {
    const { file, store } = setup('signal', approval());
    const run = await runUntilWaiting(file, store);
    const signalled = await signal(store, run.runId, 'approve', '--data', '{"approver":"ana","ticket":7}');
    expect(signalled.stderr).toBe('');
    expect(signalled.code).toBe(0);
    expect(signalled.stdout).toContain(`signal applied by the process that drives run ${run.runId}`);
    // What the run did next, as far as it got before the command looked: deploy is quick.
    expect(signalled.stdout).toMatch(/approve succeeded; the run (goes on with deploy|succeeded)\n/);
    const ran = await run.done;
    expect(ran.code).toBe(0);
    const deploy = jsonLines(ran.stdout).find((e) => e.type === 'task.succeeded' && e.task === 'deploy');
    expect(deploy?.result).toEqual({ approved: { approver: 'ana', ticket: 7 } });
    expect(ofTask(await historyOf(store, run.runId), 'approve').map((e) => e.type)).toEqual([
      'task.started',
      'task.waiting',
      'task.succeeded',
    ]);
    expect(await pendingSignals(store)).toEqual([]);
  }, 60_000);

  it('a rejection fails the wait for good: the build is compensated and the run fails (exit 1)', async () => {
    const { file, store } = setup('reject', approval());
    const run = await runUntilWaiting(file, store);
    const signalled = await signal(store, run.runId, 'approve', '--reject', 'too risky', '--json');
    expect(signalled.code).toBe(0);
    expect(JSON.parse(signalled.stdout)).toEqual({ runId: run.runId, taskId: 'approve', status: 'applied' });
    const ran = await run.done;
    expect(ran.code).toBe(1);
    const entries = jsonLines(ran.stdout);
    expect(entries.find((e) => e.type === 'task.failed' && e.task === 'approve')).toMatchObject({
      willRetry: false,
      error: { code: 'SIGNAL_REJECTED', message: 'rejected: too risky' },
    });
    expect(entries.find((e) => e.type === 'task.succeeded' && e.phase === 'compensate')).toMatchObject({ task: 'build.compensate' });
    expect(entries.some((e) => e.type === 'task.started' && e.task === 'deploy')).toBe(false);
    expect(entries.at(-1)).toMatchObject({ type: 'run.failed' });
  }, 60_000);

  it('a wait no signal ends times out when its timeout is over', async () => {
    const { file, store } = setup('timeout', approval({ timeout: '2s' }));
    const t0 = Date.now();
    const run = await runUntilWaiting(file, store);
    const ran = await run.done;
    expect(ran.code).toBe(1);
    const entries = jsonLines(ran.stdout);
    const waiting = entries.find((e) => e.type === 'task.waiting')!;
    const failed = entries.find((e) => e.type === 'task.failed' && e.task === 'approve')!;
    expect(failed).toMatchObject({ willRetry: false, error: { code: 'TASK_TIMEOUT' } });
    expect((failed.at as number) - (waiting.at as number)).toBeGreaterThanOrEqual(2_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(entries.find((e) => e.type === 'task.succeeded' && e.phase === 'compensate')).toMatchObject({ task: 'build.compensate' });
  }, 60_000);

  it('refuses a bad payload with every problem and its path (exit 2), and records nothing', async () => {
    const { file, store, dir } = setup('bad', approval());
    const run = await runUntilWaiting(file, store);
    const before = await historyOf(store, run.runId);
    const bad = await signal(store, run.runId, 'approve', '--data', '{"approver":"","ticket":0}');
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('invalid signal: nothing was recorded');
    expect(bad.stderr).toMatch(/data\.approver: .*>=1/);
    expect(bad.stderr).toMatch(/data\.ticket: .*>=1/);
    const missing = join(dir, 'data.json');
    writeFileSync(missing, '{}');
    const fromFile = await signal(store, run.runId, 'approve', '--data', `@${missing}`);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/data\.approver: /);
    expect(fromFile.stderr).toMatch(/data\.ticket: /);
    const both = await signal(store, run.runId, 'approve', '--data', '{"approver":"ana","ticket":1}', '--reject', ' ');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('reject: expected a reason: a non-empty string');
    expect(both.stderr).toContain('data: a rejection carries a reason, not data');
    expect((await signal(store, run.runId, 'approve', '--data', '{not json')).code).toBe(2);
    const notAWait = await signal(store, run.runId, 'build');
    expect(notAWait.code).toBe(2);
    expect(notAWait.stderr).toContain('taskId: task "build" does not wait for a signal');
    const notYet = await signal(store, run.runId, 'deploy');
    expect(notYet.code).toBe(2);
    expect(await pendingSignals(store)).toEqual([]);
    expect(await historyOf(store, run.runId)).toEqual(before);
    await run.kill();
  }, 60_000);

  it('ignores a second signal as a duplicate, counted in the history (exit 0); a signal after the end exits 5', async () => {
    const { file, store } = setup('duplicate', approval({ after: 'sleep 6; ' }));
    const run = await runUntilWaiting(file, store);
    expect((await signal(store, run.runId, 'approve', '--data', '{"approver":"ana","ticket":1}')).code).toBe(0);
    const again = await signal(store, run.runId, 'approve', '--data', '{"approver":"bob","ticket":2}');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`signal for approve ignored as a duplicate: run ${run.runId} had already ended that wait`);
    const ran = await run.done;
    expect(ran.code).toBe(0);
    const history = await historyOf(store, run.runId);
    expect(history.filter((e) => e.type === 'event.ignored')).toMatchObject([
      { reason: 'duplicate', event: { type: 'TASK_SUCCEEDED', taskId: 'approve', result: { approver: 'bob', ticket: 2 } } },
    ]);
    expect(history.find((e) => e.type === 'task.succeeded' && e.task === 'deploy')).toMatchObject({
      result: { approved: { approver: 'ana', ticket: 1 } },
    });
    const late = await signal(store, run.runId, 'approve', '--data', '{"approver":"cy","ticket":3}');
    expect(late.code).toBe(5);
    expect(late.stderr).toContain('already ended: succeeded (RUN_ENDED)');
  }, 60_000);
});

describe('lockstep signal across a crash', () => {
  it('records a signal while no process drives the run; lockstep resume applies it', async () => {
    const { file, store } = setup('undriven', approval());
    const run = await runUntilWaiting(file, store);
    await run.kill();
    const signalled = await signal(store, run.runId, 'approve', '--data', '{"approver":"ana","ticket":4}');
    expect(signalled.code).toBe(0);
    expect(signalled.stdout).toContain(`no process drives run ${run.runId}: \`lockstep resume ${run.runId}\` applies it`);
    expect(await pendingSignals(store)).toHaveLength(1);
    const resumed = await lockstep(['resume', run.runId, '--json', '--store', store]);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const entries = jsonLines(resumed.stdout);
    // A wait runs nothing, so nothing of it was interrupted: it goes on waiting until the signal ends it.
    expect(entries.some((e) => e.type === 'task.interrupted')).toBe(false);
    expect(entries[0]).toMatchObject({ type: 'task.succeeded', task: 'approve', result: { approver: 'ana', ticket: 4 } });
    expect(entries.find((e) => e.type === 'task.succeeded' && e.task === 'deploy')?.result).toEqual({
      approved: { approver: 'ana', ticket: 4 },
    });
    expect(await pendingSignals(store)).toEqual([]);
  }, 60_000);

  it('SIGKILL during a wait, resume before its due time: it still waits, then a signal applies', async () => {
    const { file, store } = setup('before', approval({ timeout: '60s' }));
    const run = await runUntilWaiting(file, store);
    await run.kill();
    const resumed = await runResumeUntilDriven(store, run.runId);
    await sleep(500);
    expect(resumed.out()).toBe('');
    const signalled = await signal(store, run.runId, 'approve', '--data', '{"approver":"ana","ticket":5}');
    expect(signalled.code).toBe(0);
    expect(signalled.stdout).toContain('signal applied by the process that drives run');
    const ended = await resumed.done;
    expect(ended.code).toBe(0);
    const entries = jsonLines(ended.stdout);
    expect(entries.map((e) => e.type).slice(0, 2)).toEqual(['task.succeeded', 'task.started']);
    expect(entries.some((e) => e.type === 'task.interrupted')).toBe(false);
    const history = await historyOf(store, run.runId);
    // The timeout kept its recorded due time: the wait is recorded once, before the kill.
    expect(ofTask(history, 'approve').map((e) => e.type)).toEqual(['task.started', 'task.waiting', 'task.succeeded']);
  }, 60_000);

  it('SIGKILL during a wait, resume after its due time: a delay proceeds at once, a signal wait times out at once', async () => {
    const delayed = setup('delay', delay);
    const paused = await runUntilWaiting(delayed.file, delayed.store);
    await paused.kill();
    const approvalRun = setup('expired', approval({ timeout: '2s' }));
    const waiting = await runUntilWaiting(approvalRun.file, approvalRun.store);
    await waiting.kill();
    await sleep(3_200);

    const t0 = Date.now();
    const resumedDelay = await lockstep(['resume', paused.runId, '--json', '--store', delayed.store]);
    expect(resumedDelay.code).toBe(0);
    const delayEntries = jsonLines(resumedDelay.stdout);
    expect(delayEntries[0]).toMatchObject({ type: 'task.succeeded', task: 'pause' });
    expect((delayEntries[0]!.at as number) - t0).toBeLessThan(2_500);
    expect(delayEntries.at(-1)).toMatchObject({ type: 'run.succeeded' });

    const t1 = Date.now();
    const resumedWait = await lockstep(['resume', waiting.runId, '--json', '--store', approvalRun.store]);
    expect(resumedWait.code).toBe(1);
    const waitEntries = jsonLines(resumedWait.stdout);
    expect(waitEntries[0]).toMatchObject({ type: 'task.failed', task: 'approve', error: { code: 'TASK_TIMEOUT' } });
    expect((waitEntries[0]!.at as number) - t1).toBeLessThan(2_500);
    expect(waitEntries.at(-1)).toMatchObject({ type: 'run.failed' });
  }, 60_000);
});

/** Starts `lockstep resume --json` in the background; resolves once it holds the run. */
async function runResumeUntilDriven(store: string, runId: string): Promise<{ done: Done; out: () => string }> {
  const resumed = spawnCli(['resume', runId, '--json', '--store', store], {}, scratch);
  let out = '';
  resumed.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const opened = SqliteRunStore.open(store, { create: false });
  try {
    const end = Date.now() + 20_000;
    while (opened.holder(runId)?.pid !== resumed.child.pid) {
      if (Date.now() > end) throw new Error('resume did not take the run');
      await sleep(20);
    }
  } finally {
    await opened.close();
  }
  return { done: resumed.done, out: () => out };
}
