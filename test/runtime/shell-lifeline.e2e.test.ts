// The lifeline of a shell attempt: when the process that runs it dies (SIGKILL), the attempt's process group is
// stopped, SIGTERM then SIGKILL after the kill grace; a normal task sees no difference. The dying process is a
// node process running the built runner (dist/, so `npm run build` first).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { groupMembers } from '../../src/adapters/process/process-identity.js';
import { runShellTask } from '../../src/runtime/shell-task.js';
import { ROOT } from '../support/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-lifeline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const RUNNER = pathToFileURL(join(ROOT, 'dist/runtime/shell-task.js')).href;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node process that runs `run` through the built runner and prints the group id once it has started. */
function parent(
  run: string,
  options: { lifeline?: boolean; killGraceMs: number; attemptDir?: string; neverRecorded?: boolean },
  env: Record<string, string>,
): { child: ChildProcess; pgid: Promise<number> } {
  const script = `import { runShellTask } from ${JSON.stringify(RUNNER)};
await runShellTask({ run: ${JSON.stringify(run)}, env: {}, signal: new AbortController().signal, killGraceMs: ${options.killGraceMs},
  ${options.lifeline === false ? 'lifeline: false,' : ''} ${options.attemptDir ? `attemptDir: ${JSON.stringify(options.attemptDir)},` : ''}
  onStart: ({ pgid }) => { console.log(pgid); ${options.neverRecorded ? 'return new Promise(() => {});' : ''} } });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pgid = new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the parent exited with ${code} before the task started`)));
  });
  return { child, pgid };
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Members of the group that have not exited (a zombie waits for init to reap it, and runs nothing). */
const live = (pgid: number) => groupMembers(pgid).filter((m) => m.stat.state !== 'Z' && m.stat.state !== 'X');

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** A task that beats every 0.1 s, in its shell and in a background process; with $STUBBORN it ignores SIGTERM. */
const BEATING = `exec 2>/dev/null; [ -n "$STUBBORN" ] && trap '' TERM
beat() { while :; do echo "$1 $(date +%s%N)" >> "$BEATS"; sleep 0.1; done; }
beat background & beat shell`;

async function killParent(options: { lifeline?: boolean; stubborn?: boolean; attemptDir?: string }) {
  const dir = mkdtempSync(join(scratch, 'lifeline-'));
  const beats = join(dir, 'beats');
  const { child, pgid: started } = parent(
    BEATING,
    { killGraceMs: 1_000, ...options },
    { BEATS: beats, STUBBORN: options.stubborn ? '1' : '' },
  );
  const pgid = await started;
  await until(() => lines(beats).some((l) => l.startsWith('background')) && lines(beats).some((l) => l.startsWith('shell')), 'both beats');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return { pgid, beats, killedAt: process.hrtime.bigint() };
}

describe('the lifeline of a shell attempt', () => {
  it('stops the group at once when the process that runs it is SIGKILLed', async () => {
    const { pgid, beats } = await killParent({});
    // SIGTERM came at once: within the 1 s grace, the beats have stopped ...
    await sleep(500);
    const count = lines(beats).length;
    await sleep(300);
    expect(lines(beats)).toHaveLength(count);
    // ... and after it, the whole group is gone, its watchdog included.
    await until(() => live(pgid).length === 0, 'the group to be gone', 10_000);
  });

  it("removes the attempt's directory, and its parent once empty, after the grace", async () => {
    const parentDir = mkdtempSync(join(scratch, 'lockstep-attempts-'));
    const attemptDir = mkdtempSync(join(parentDir, 'attempt-'));
    const sibling = mkdtempSync(join(parentDir, 'attempt-'));
    writeFileSync(join(attemptDir, 'input.json'), 'null');
    const { pgid } = await killParent({ stubborn: true, attemptDir });
    // Within the grace the group still runs, and may still read its files.
    await sleep(300);
    expect(existsSync(join(attemptDir, 'input.json'))).toBe(true);
    await until(() => live(pgid).length === 0, 'the group to be gone', 10_000);
    expect(existsSync(attemptDir)).toBe(false);
    // The parent holds another attempt's directory: it stays, until that attempt's lifeline removes it in turn.
    expect(readdirSync(parentDir)).toEqual([basename(sibling)]);
    rmSync(sibling, { recursive: true });
    const second = await killParent({ attemptDir: sibling });
    await until(() => live(second.pgid).length === 0, 'the second group to be gone', 10_000);
    expect(existsSync(parentDir)).toBe(false);
  });

  it("leaves the attempt's directory to the caller when the task ends normally", async () => {
    const attemptDir = mkdtempSync(join(scratch, 'attempt-'));
    const { child } = parent('echo done', { killGraceMs: 200, attemptDir }, {});
    await new Promise((r) => child.once('exit', r));
    expect(child.exitCode).toBe(0);
    await sleep(600);
    expect(existsSync(attemptDir)).toBe(true);
  });

  it('SIGKILLs a group that ignores SIGTERM once the kill grace is over', async () => {
    const { pgid, beats } = await killParent({ stubborn: true });
    const t = Date.now();
    await sleep(500);
    // Within the grace it still runs (it ignores SIGTERM) ...
    expect(live(pgid).length).toBeGreaterThan(1);
    await until(() => live(pgid).length === 0, 'the group to be gone', 10_000);
    // ... and after it, nothing of it is left.
    expect(Date.now() - t).toBeGreaterThanOrEqual(500);
    const count = lines(beats).length;
    await sleep(300);
    expect(lines(beats)).toHaveLength(count);
  });

  it('without a lifeline, the group lives on once the process that runs it is gone', async () => {
    const { pgid, beats } = await killParent({ lifeline: false });
    try {
      await sleep(1_500);
      expect(live(pgid).length).toBeGreaterThan(1);
      const count = lines(beats).length;
      await sleep(300);
      expect(lines(beats).length).toBeGreaterThan(count);
    } finally {
      process.kill(-pgid, 'SIGKILL');
    }
  });

  it('leaves alone what left the group with setsid before the process died', async () => {
    const dir = mkdtempSync(join(scratch, 'setsid-'));
    const pidFile = join(dir, 'daemon.pid');
    // The README's recipe, then the task goes on working.
    const run = `setsid sh -c 'echo $$ > "$PID_FILE"; exec sleep 30' >/dev/null 2>&1 </dev/null &
while [ "$(ps -o pgid= -p $! | tr -d ' ')" = "$(ps -o pgid= -p $$ | tr -d ' ')" ]; do sleep 0.05; done
sleep 30`;
    const { child, pgid: started } = parent(run, { killGraceMs: 1_000 }, { PID_FILE: pidFile });
    const pgid = await started;
    await until(() => lines(pidFile).length === 1, 'the daemon to start');
    const daemon = Number(lines(pidFile)[0]);
    try {
      child.kill('SIGKILL');
      await until(() => live(pgid).length === 0, 'the group to be gone', 10_000);
      expect(() => process.kill(daemon, 0)).not.toThrow();
    } finally {
      process.kill(daemon, 'SIGKILL');
    }
  });
});

describe('a shell task with a lifeline, as the task sees it', () => {
  const signal = new AbortController().signal;
  /** What the task sees of itself: `$0`, arguments, open fds, environment and directory. */
  const SELF = `echo "0=$0 #=$#"; for fd in 0 1 2 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$fd ] && echo "fd $fd"; done; env | sort; pwd`;

  it('sees what it sees without one: the same $0, arguments, fds 0-2 only, environment and directory', async () => {
    const seen = async (lifeline: boolean) =>
      (await runShellTask({ run: SELF, env: { LOCKSTEP_TASK_ID: 'self' }, cwd: tmpdir(), signal, lifeline })).output;
    const [without, withLifeline] = [await seen(false), await seen(true)];
    expect(withLifeline).toBe(without);
    expect(withLifeline).toMatch(/^0=\/bin\/sh #=0\nfd 0\nfd 1\nfd 2\n/);
  });

  it('keeps exit codes and signals', async () => {
    await expect(runShellTask({ run: 'exit 7', env: {}, signal })).rejects.toMatchObject({ message: 'command exited with code 7' });
    await expect(runShellTask({ run: 'kill -9 $$', env: {}, signal })).rejects.toMatchObject({ message: 'command was killed by SIGKILL' });
    await expect(runShellTask({ run: 'echo \'{"ok":true}\'', env: {}, signal })).resolves.toMatchObject({ result: { ok: true } });
  });

  it('has no extra child: `wait` returns at once, and `ps` shows no child but itself', async () => {
    const t = Date.now();
    const r = await runShellTask({ run: 'wait; jobs; echo "shell $$"; ps -o args= --ppid $$', env: {}, signal, killGraceMs: 10_000 });
    expect(Date.now() - t).toBeLessThan(5_000);
    const shell = /^shell (\d+)\n/.exec(r.output)![1];
    expect(r.output).toBe(`shell ${shell}\nps -o args= --ppid ${shell}\n`);
  });

  it('keeps background semantics: one holding the output keeps the attempt running, the rest is killed at the end', async () => {
    const dir = mkdtempSync(join(scratch, 'bg-'));
    const marker = join(dir, 'late');
    const t = Date.now();
    // The first holds stdout for 0.5 s, so the attempt lasts that long; the second holds nothing and is killed.
    await runShellTask({ run: `(sleep 0.5; echo held) & (sleep 2; touch "${marker}") >/dev/null 2>&1 &`, env: {}, signal });
    expect(Date.now() - t).toBeGreaterThanOrEqual(450);
    await sleep(2_500);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('the go-ahead of a recorded attempt', () => {
  for (const lifeline of [false, true])
    it(`runs nothing when the process dies before the group is recorded (lifeline ${lifeline})`, async () => {
      const dir = mkdtempSync(join(scratch, 'gate-'));
      const mark = join(dir, 'ran');
      // onStart never settles: the process is SIGKILLed between the spawn and the record of the group.
      const { child, pgid: started } = parent(
        `touch "$MARK"; sleep 5`,
        { lifeline, killGraceMs: 1_000, neverRecorded: true },
        { MARK: mark },
      );
      const pgid = await started;
      await sleep(300);
      expect(existsSync(mark)).toBe(false);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The shell sees the go-ahead's pipe close without a line and exits, never starting the command.
      await until(() => live(pgid).length === 0, 'the waiting shell to exit', 5_000);
      expect(existsSync(mark)).toBe(false);
    });
});
