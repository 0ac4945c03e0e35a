// Attempt directories live in one parent per process, named after its owner; a sweep removes the parents of owners
// that are gone (pid and start time), but for attempts whose process group still runs. Real processes, real
// directories, under a temp directory of the test's own.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AttemptDirectories, GROUP_FILE } from '../../src/runtime/attempt-directories.js';
import { writeAttemptFiles } from '../../src/runtime/shell-data.js';

const root = mkdtempSync(join(tmpdir(), 'lockstep-attempt-dirs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

/** A process of its own group that sleeps until killed. */
function sleeper(): ChildProcess & { pid: number } {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  return child as ChildProcess & { pid: number };
}

const gone = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

/** This process's scope, as the name of its own parent says. */
async function ownScope(): Promise<string> {
  const dir = await new AttemptDirectories(root).make();
  const scope = /^lockstep-attempts-([^-]+)-/.exec(basename(dirname(dir)))![1]!;
  rmSync(dirname(dir), { recursive: true, force: true });
  return scope;
}

/** A parent as a process `pid` started at `start` would have made it, with one attempt directory inside. */
function parentOf(scope: string, pid: number, start: string, suffix: string): { parent: string; attempt: string } {
  const parent = join(root, `lockstep-attempts-${scope}-${pid}-${start}-${suffix}`);
  const attempt = join(parent, 'attempt-Ab12Cd');
  mkdirSync(attempt, { recursive: true, mode: 0o700 });
  writeFileSync(join(attempt, 'input.json'), 'null');
  return { parent, attempt };
}

describe('attempt directories', () => {
  it('are made in one parent per process, named after its pid and start time, removed with the last attempt', async () => {
    const dirs = new AttemptDirectories(root);
    const files = await writeAttemptFiles({ input: { a: 1 }, results: {} }, dirs);
    const other = await writeAttemptFiles({ input: null, results: {} }, dirs);
    const parent = dirname(files.dir);
    expect(dirname(other.dir)).toBe(parent);
    expect(basename(parent)).toMatch(new RegExp(`^lockstep-attempts-[0-9a-f]{12}-${process.pid}-${startOf(process.pid)}-\\w{6}$`));
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    expect(statSync(files.dir).mode & 0o777).toBe(0o700);
    await files.remove();
    expect(readdirSync(parent)).toEqual([basename(other.dir)]);
    await other.remove();
    expect(existsSync(parent)).toBe(false);
    // The next attempt gets a parent of its own.
    const next = await writeAttemptFiles({ input: null, results: {} }, dirs);
    expect(dirname(next.dir)).not.toBe(parent);
    await next.remove();
    expect(existsSync(dirname(next.dir))).toBe(false);
  });

  it('sweep the parent of an owner that has exited, and leave a running owner alone', async () => {
    const scope = await ownScope();
    const owner = sleeper();
    const { parent } = parentOf(scope, owner.pid, startOf(owner.pid), 'Owner1');
    expect(await new AttemptDirectories(root).sweep()).toEqual([]);
    expect(existsSync(parent)).toBe(true);
    process.kill(owner.pid, 'SIGKILL');
    await gone(owner);
    const removed = await new AttemptDirectories(root).sweep();
    expect(removed).toContain(parent);
    expect(existsSync(parent)).toBe(false);
  });

  it('take a pid given to a later process for a gone owner: its start time differs', async () => {
    const scope = await ownScope();
    const later = sleeper();
    try {
      const { parent } = parentOf(scope, later.pid, String(Number(startOf(later.pid)) - 1), 'Reused');
      await new AttemptDirectories(root).sweep();
      expect(existsSync(parent)).toBe(false);
    } finally {
      process.kill(later.pid, 'SIGKILL');
    }
  });

  it('keep the attempt of a gone owner while its process group runs, and sweep it once the group is gone', async () => {
    const scope = await ownScope();
    const owner = sleeper();
    const ownerStart = startOf(owner.pid);
    process.kill(owner.pid, 'SIGKILL');
    await gone(owner);
    const { parent, attempt } = parentOf(scope, owner.pid, ownerStart, 'Orphan');
    const finished = join(parent, 'attempt-Ef34Gh');
    mkdirSync(finished);
    const group = sleeper();
    writeFileSync(join(attempt, GROUP_FILE), String(group.pid));
    await new AttemptDirectories(root).sweep();
    expect(existsSync(attempt)).toBe(true);
    expect(existsSync(finished)).toBe(false);
    process.kill(-group.pid, 'SIGKILL');
    await gone(group);
    await new AttemptDirectories(root).sweep();
    expect(existsSync(parent)).toBe(false);
  });

  it('leave alone parents of another boot or pid namespace, and what is not a parent of attempt directories', async () => {
    const owner = sleeper();
    const start = startOf(owner.pid);
    process.kill(owner.pid, 'SIGKILL');
    await gone(owner);
    const { parent } = parentOf('0123456789ab', owner.pid, start, 'Abroad');
    const unrelated = join(root, `lockstep-attempts-${owner.pid}`);
    mkdirSync(unrelated);
    await new AttemptDirectories(root).sweep();
    expect(existsSync(parent)).toBe(true);
    expect(existsSync(unrelated)).toBe(true);
  });

  it('are swept by a new process before it makes its own parent', async () => {
    const scope = await ownScope();
    const owner = sleeper();
    const start = startOf(owner.pid);
    process.kill(owner.pid, 'SIGKILL');
    await gone(owner);
    const { parent } = parentOf(scope, owner.pid, start, 'Before');
    const dir = await new AttemptDirectories(root).make();
    expect(existsSync(parent)).toBe(false);
    rmSync(dirname(dir), { recursive: true });
  });
});
