import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, jsonLines, lockstep } from '../support/cli.js';
import type { SmallDisk } from '../support/small-disk.js';
import { smallDisk } from '../support/small-disk.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-store-faults-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const temp = (prefix: string) => mkdtempSync(join(scratch, `${prefix}-`));

/**
 * A sequence whose middle task fills the disk the store is on (while `flag` exists), so the store's next write
 * fails with the real ENOSPC, SQLITE_FULL.
 */
function fillingSequence(dir: string, disk: string): { file: string; log: string; flag: string; filler: string } {
  const log = join(dir, 'log');
  const flag = join(dir, 'fill-the-disk');
  const filler = join(disk, 'filler');
  const file = join(dir, 'fill.yaml');
  writeFileSync(
    file,
    [
      'name: fill',
      'tasks:',
      '  - id: a',
      `    run: echo a >> ${log}; echo '{"a":1}'`,
      '  - id: fill',
      `    run: echo fill >> ${log}; if [ -e ${flag} ]; then dd if=/dev/zero of=${filler} bs=64k count=1000 2>/dev/null; fi; echo '{"filled":true}'`,
      '  - id: c',
      `    run: echo c >> ${log}; echo '{"c":1}'`,
      '',
    ].join('\n'),
  );
  writeFileSync(flag, '');
  return { file, log, flag, filler };
}

describe('a store that fills up mid-run', () => {
  const disks: SmallDisk[] = [];
  afterAll(() => {
    for (const d of disks) d.unmount();
  });

  it('lockstep run exits 3 within seconds with STORE_FULL, the path and the cause; resume completes the run once space is back', async () => {
    const disk = smallDisk('2m');
    disks.push(disk);
    const dir = temp('full');
    const store = join(disk.dir, 'lockstep.db');
    const { file, log, flag, filler } = fillingSequence(dir, disk.dir);

    const started = Date.now();
    const run = await lockstep(['run', file, '--json', '--store', store], { timeoutMs: 60_000 });
    const elapsed = Date.now() - started;
    expect(run.code).toBe(3);
    expect(elapsed).toBeLessThan(10_000);
    expect(run.stderr).toContain(`run store ${store}: committing run history failed: database or disk is full (SQLITE_FULL) (STORE_FULL)`);
    expect(run.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    const before = jsonLines(run.stdout);
    const runId = before[0]!.runId as string;
    expect(readFileSync(log, 'utf8')).toBe('a\nfill\n');

    // While the disk is still full, resume fails as loudly.
    const early = Date.now();
    const stillFull = await lockstep(['resume', runId, '--json', '--store', store], { timeoutMs: 60_000 });
    expect(stillFull.code).toBe(3);
    expect(Date.now() - early).toBeLessThan(10_000);
    expect(stillFull.stderr).toMatch(
      new RegExp(`run store ${store}: .* failed: database or disk is full \\(SQLITE_FULL\\) \\(STORE_FULL\\)`),
    );

    // Space is back: everything recorded before the disk filled is still there.
    rmSync(filler);
    rmSync(flag);
    const shownBefore = JSON.parse((await lockstep(['show', runId, '--json', '--store', store])).stdout) as {
      run: { status: string };
      history: unknown[];
    };
    // No process drives it any more: it is interrupted, waiting for a resume.
    expect(shownBefore.run.status).toBe('interrupted');
    expect(shownBefore.history.slice(0, before.length)).toEqual(before);

    const resumed = await lockstep(['resume', runId, '--json', '--store', store], { timeoutMs: 60_000 });
    expect(resumed.code).toBe(0);
    // a had finished and is not run again; an attempt of fill whose end could not be recorded runs again.
    const ran = readFileSync(log, 'utf8').trim().split('\n');
    expect(ran.filter((t) => t === 'a')).toHaveLength(1);
    expect(ran[0]).toBe('a');
    expect(ran.at(-1)).toBe('c');
    expect(ran.filter((t) => t === 'c')).toHaveLength(1);
    const { run: record, history } = JSON.parse((await lockstep(['show', runId, '--json', '--store', store])).stdout) as {
      run: { status: string };
      history: Array<Record<string, unknown>>;
    };
    expect(record.status).toBe('succeeded');
    expect(history.slice(0, before.length)).toEqual(before);
    const starts = history.filter((e) => e.type === 'task.started').map((e) => `${e.task as string}#${e.attempt as number}`);
    expect(starts[0]).toBe('a#1');
    expect(starts.at(-1)).toBe('c#1');
    expect(starts.filter((t) => t.startsWith('a#'))).toHaveLength(1);
    expect(starts.slice(1, -1).every((t) => t.startsWith('fill#'))).toBe(true);
    expect(history.find((e) => e.type === 'task.interrupted')).toMatchObject({ task: 'fill', attempt: 1 });
    expect(history.filter((e) => e.type === 'task.succeeded').map((e) => e.task)).toEqual(['a', 'fill', 'c']);
  }, 120_000);

  it('lockstep serve exits 3 with STORE_FULL when a run it drives cannot be recorded', async () => {
    const disk = smallDisk('2m');
    disks.push(disk);
    const dir = temp('serve-full');
    const machines = join(dir, 'machines');
    mkdirSync(machines);
    const store = join(disk.dir, 'lockstep.db');
    const { file } = fillingSequence(dir, disk.dir);
    writeFileSync(join(machines, 'fill.yaml'), readFileSync(file));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--machines', machines, '--store', store], {
      env: { ...process.env, LOCKSTEP_TOKEN: 'secret' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    try {
      const response = await fetch(`http://127.0.0.1:${port}/api/runs`, {
        method: 'POST',
        headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
        body: JSON.stringify({ sequence: 'fill' }),
      });
      expect(response.status).toBeLessThan(300);
      const started = Date.now();
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      expect(code).toBe(3);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(stderr).toContain(`run store ${store}: committing run history failed: database or disk is full (SQLITE_FULL) (STORE_FULL)`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('a read-only store', () => {
  const disks: SmallDisk[] = [];
  const immutable: string[] = [];
  afterAll(() => {
    for (const f of immutable) execFileSync('chattr', ['-i', f]);
    for (const d of disks) d.unmount();
  });

  it('on a read-only file system (no -shm file): runs and show work, run exits 3 with STORE_READ_ONLY', async () => {
    const disk = smallDisk('4m');
    disks.push(disk);
    const store = join(disk.dir, 'lockstep.db');
    const done = await lockstep(['run', 'machines/hello.yaml', '--json', '--store', store]);
    expect(done.code).toBe(0);
    const runId = jsonLines(done.stdout)[0]!.runId as string;
    disk.remount('ro');
    // The last connection removed the side files: a WAL store read without its -shm.
    expect(existsSync(`${store}-shm`)).toBe(false);

    const runs = await lockstep(['runs', '--json', '--store', store]);
    expect(runs.stderr).toBe('');
    expect(runs.code).toBe(0);
    expect(jsonLines(runs.stdout)).toMatchObject([{ runId, status: 'succeeded' }]);
    const shown = await lockstep(['show', runId, '--store', store]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`run ${runId} of hello v1: succeeded`);

    const refused = await lockstep(['run', 'machines/hello.yaml', '--store', store]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`run store ${store} cannot be written: the file is read-only (EROFS: read-only file system)`);
    expect(refused.stderr).toContain('(STORE_READ_ONLY)');
    const resume = await lockstep(['resume', runId, '--store', store]);
    expect(resume.code).toBe(3);
  }, 60_000);

  it('an immutable store file (chattr +i, which stops root too): runs and show work, run exits 3 with STORE_READ_ONLY', async () => {
    const dir = temp('immutable');
    const store = join(dir, 'lockstep.db');
    const done = await lockstep(['run', 'machines/hello.yaml', '--json', '--store', store]);
    const runId = jsonLines(done.stdout)[0]!.runId as string;
    execFileSync('chattr', ['+i', store]);
    immutable.push(store);

    const runs = await lockstep(['runs', '--json', '--store', store]);
    expect(runs.code).toBe(0);
    expect(jsonLines(runs.stdout)).toMatchObject([{ runId, status: 'succeeded' }]);
    expect((await lockstep(['show', runId, '--json', '--store', store])).code).toBe(0);
    const refused = await lockstep(['run', 'machines/hello.yaml', '--store', store]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`run store ${store} cannot be written: the file is read-only (EPERM`);
    expect(refused.stderr).toContain('(STORE_READ_ONLY)');
  }, 60_000);
});

describe('long timeouts through the CLI', () => {
  it('a task with timeout: 25d is not timed out after seconds (setTimeout alone fires it after 1 ms)', async () => {
    const dir = temp('long-timeout');
    const file = join(dir, 'long.yaml');
    writeFileSync(
      file,
      ['name: long', 'timeout: 30d', 'tasks:', '  - id: slow', '    timeout: 25d', `    run: sleep 3; echo '{"ok":true}'`, ''].join('\n'),
    );
    const r = await lockstep(['run', file, '--json', '--store', join(dir, 'lockstep.db')], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const succeeded = jsonLines(r.stdout).find((e) => e.type === 'task.succeeded');
    expect(succeeded).toMatchObject({ task: 'slow', result: { ok: true } });
    expect(succeeded!.durationMs).toBeGreaterThanOrEqual(3_000);
  }, 60_000);

  it('validate rejects a duration past 365d with its path', async () => {
    const dir = temp('too-long');
    const file = join(dir, 'too-long.yaml');
    writeFileSync(file, ['name: too-long', 'tasks:', '  - id: a', '    run: "true"', '    timeout: 400d', ''].join('\n'));
    const r = await lockstep(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('tasks[0].timeout: expected a duration up to 365d, got "400d"');
  });
});
