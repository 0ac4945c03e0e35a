import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep, ROOT } from '../support/cli.js';
import { killOrphans, readLog, sleep, spawnCli, storedRuns, writeCrashSequence } from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-durable-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const temp = (prefix: string) => mkdtempSync(join(scratch, `${prefix}-`));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const runIdOf = (stdout: string) => jsonLines(stdout)[0]?.runId as string;

describe('lockstep runs and show', () => {
  const dir = temp('runs');
  const store = join(dir, 'runs.db');

  it('lists runs newest first with outcome, duration and the failed task; shows the full history', async () => {
    const failed = await lockstep(['run', 'machines/cleanup-always.yaml', '--json', '--store', store]);
    const ok = await lockstep(['run', 'machines/hello.yaml', '--json', '--store', store, '--input', '{"who":"me"}']);
    expect([failed.code, ok.code]).toEqual([1, 0]);
    const [failedId, okId] = [runIdOf(failed.stdout), runIdOf(ok.stdout)];

    const listed = await lockstep(['runs', '--json', '--store', store]);
    expect(listed.code).toBe(0);
    expect(jsonLines(listed.stdout)).toMatchObject([
      { runId: okId, sequence: 'hello', status: 'succeeded' },
      { runId: failedId, sequence: 'cleanup-always', status: 'failed', task: 'migrate', reason: expect.stringContaining('migrate') },
    ]);
    expect(jsonLines(listed.stdout)[1]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(jsonLines((await lockstep(['runs', '--json', '--status', 'failed', '--store', store])).stdout).map((r) => r.runId)).toEqual([
      failedId,
    ]);
    expect(jsonLines((await lockstep(['runs', '--json', '--limit', '1', '--store', store])).stdout).map((r) => r.runId)).toEqual([okId]);
    const table = await lockstep(['runs', '--store', store]);
    expect(table.stdout.split('\n')[0]).toMatch(/^RUN\s+SEQUENCE\s+STATUS\s+STARTED\s+DURATION\s+TASK$/);
    expect(table.stdout).toMatch(new RegExp(`${failedId}\\s+cleanup-always v1\\s+failed\\s+.*failed at migrate`));

    const shown = await lockstep(['show', failedId, '--json', '--store', store]);
    const { run, history } = JSON.parse(shown.stdout) as { run: Record<string, unknown>; history: Array<Record<string, unknown>> };
    expect(run).toMatchObject({
      runId: failedId,
      status: 'failed',
      currentTask: 'migrate',
      definition: readFileSync(join(ROOT, 'machines/cleanup-always.yaml'), 'utf8'),
    });
    expect(history).toEqual(jsonLines(failed.stdout));
    const human = await lockstep(['show', failedId, '--store', store]);
    expect(human.stdout).toContain(`run ${failedId} of cleanup-always v1: failed`);
    expect(human.stdout).toMatch(/✖ migrate failed in \d+ms \(attempt 1\): command exited with code 1/);
    expect(human.stdout).toContain('| disk full');
    expect(human.stdout).toMatch(/unlock \(finally\)\s+succeeded\s+attempts 1/);
    const okShown = await lockstep(['show', okId, '--store', store]);
    expect(okShown.stdout).toContain('input       {"who":"me"}');
    expect(okShown.stdout).toContain('result {"greeting":"hello"}');
  });

  it('exits 2 on unknown run ids and bad options, 3 on a missing store (which it does not create)', async () => {
    for (const args of [
      ['show', 'nope'],
      ['resume', 'nope'],
      ['rerun', 'nope'],
    ]) {
      const r = await lockstep([...args, '--store', store]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unknown run nope');
    }
    expect((await lockstep(['runs', '--status', 'sleeping', '--store', store])).stderr).toContain(
      '--status: expected one of running, waiting, interrupted, succeeded, failed, cancelled, got "sleeping"',
    );
    expect((await lockstep(['runs', '--limit', '0', '--store', store])).code).toBe(2);
    const missing = join(dir, 'nowhere', 'lockstep.db');
    const r = await lockstep(['runs', '--store', missing]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no run store at ${missing}`);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  });

  it('keeps runs in .lockstep/ of the working directory by default, or where LOCKSTEP_STORE points', async () => {
    const cwd = temp('default-store');
    await lockstep(['run', join(ROOT, 'machines/hello.yaml'), '--json'], { cwd });
    expect(existsSync(join(cwd, '.lockstep', 'lockstep.db'))).toBe(true);
    const elsewhere = join(temp('env-store'), 'env.db');
    await lockstep(['run', join(ROOT, 'machines/hello.yaml'), '--json'], { cwd, env: { LOCKSTEP_STORE: elsewhere } });
    expect(jsonLines((await lockstep(['runs', '--json'], { cwd, env: { LOCKSTEP_STORE: elsewhere } })).stdout)).toHaveLength(1);
    expect(jsonLines((await lockstep(['runs', '--json'], { cwd })).stdout)).toHaveLength(1);
  });
});

describe('lockstep rerun', () => {
  const dir = temp('rerun');
  const store = join(dir, 'rerun.db');
  const file = join(dir, 'orders.yaml');
  const log = join(dir, 'log');
  const flag = join(dir, 'fail-charge');
  const definition = (shipCommand: string) =>
    [
      'name: orders',
      'tasks:',
      '  - id: create',
      `    run: echo create >> ${log}; echo '{"orderId":"o-7"}'`,
      '  - id: charge',
      `    run: echo "charge $LOCKSTEP_RESULT_CREATE" >> ${log}; if [ -e ${flag} ]; then exit 1; fi; echo '{"charged":true}'`,
      '  - id: ship',
      `    run: ${shipCommand}`,
      'finally:',
      '  - id: audit',
      `    run: echo audit >> ${log}`,
      '',
    ].join('\n');

  it('starts from the failed task, reuses the earlier results, and links the new run to the old one', async () => {
    writeFileSync(file, definition(`echo "ship $LOCKSTEP_RESULT_CHARGE" >> ${log}`));
    writeFileSync(flag, '');
    const first = await lockstep(['run', file, '--json', '--store', store]);
    expect(first.code).toBe(1);
    const firstId = runIdOf(first.stdout);
    rmSync(flag);
    writeFileSync(log, '');

    const rerun = await lockstep(['rerun', firstId, '--json', '--store', store]);
    expect(rerun.code).toBe(0);
    const lines = jsonLines(rerun.stdout);
    expect(lines[0]).toMatchObject({ type: 'run.started', rerunOf: firstId, reused: ['create'] });
    expect(lines[1]).toMatchObject({ type: 'task.succeeded', task: 'create', result: { orderId: 'o-7' } });
    expect(lines.filter((l) => l.type === 'task.started').map((l) => l.task)).toEqual(['charge', 'ship', 'audit']);
    // create did not run again; charge saw its recorded result.
    expect(readFileSync(log, 'utf8')).toBe('charge {"orderId":"o-7"}\nship {"charged":true}\naudit\n');
    const secondId = runIdOf(rerun.stdout);
    const [record] = jsonLines((await lockstep(['runs', '--json', '--limit', '1', '--store', store])).stdout);
    expect(record).toMatchObject({ runId: secondId, status: 'succeeded', rerunOf: firstId });

    // --from a later task reuses everything before it.
    writeFileSync(log, '');
    const fromShip = await lockstep(['rerun', secondId, '--from', 'ship', '--store', store]);
    expect(fromShip.code).toBe(0);
    expect(fromShip.stdout).toContain(`↺ rerun of ${secondId} from "ship": reusing create, charge; running ship`);
    expect(readFileSync(log, 'utf8')).toBe('ship {"charged":true}\naudit\n');

    // Nothing to reuse for a task that never succeeded.
    const tooFar = await lockstep(['rerun', firstId, '--from', 'ship', '--store', store]);
    expect(tooFar.code).toBe(2);
    expect(tooFar.stderr).toContain('task "charge" before it failed in that run');
    expect((await lockstep(['rerun', firstId, '--from', 'nope', '--store', store])).code).toBe(2);
  });

  it("uses the run's original definition unless --definition current, and says when the file changed", async () => {
    writeFileSync(file, definition(`echo "ship v1" >> ${log}`));
    const first = await lockstep(['run', file, '--json', '--store', store]);
    const firstId = runIdOf(first.stdout);
    writeFileSync(file, definition(`echo "ship v2" >> ${log}`));
    writeFileSync(log, '');

    const original = await lockstep(['rerun', firstId, '--from', 'ship', '--json', '--store', store]);
    expect(original.code).toBe(0);
    expect(original.stderr).toMatch(
      /orders\.yaml has changed since run .* started \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\); using the run's original definition/,
    );
    expect(readFileSync(log, 'utf8')).toBe('ship v1\naudit\n');

    writeFileSync(log, '');
    const current = await lockstep(['rerun', firstId, '--from', 'ship', '--definition', 'current', '--json', '--store', store]);
    expect(current.code).toBe(0);
    expect(current.stderr).toMatch(/using the current .*orders\.yaml .* which has changed since run/);
    expect(readFileSync(log, 'utf8')).toBe('ship v2\naudit\n');
    expect((await lockstep(['rerun', firstId, '--definition', 'latest', '--store', store])).stderr).toContain(
      '--definition: expected one of original, current, got "latest"',
    );
  });
});

describe('lockstep resume: two at once', () => {
  it('exactly one proceeds; the other exits 4 (RUN_LOCKED) and changes nothing', async () => {
    const dir = temp('resume-race');
    const sequenceFile = writeCrashSequence(dir);
    const store = join(dir, 'race.db');
    const log = join(dir, 'log');
    const env = { CRASH_LOG: log, CRASH_HOLD: 't2', CRASH_SLEEP: '0.4' };
    const run = spawnCli(['run', sequenceFile, '--json', '--store', store], env, dir);
    while (!readLog(log).some((l) => l.kind === 'start' && l.task === 't2')) await sleep(5);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    killOrphans(readLog(log));
    const runId = runIdOf(killed.stdout);

    // One prints JSON lines, the other prints for people: whichever loses must print nothing at all.
    const results = await Promise.all(
      [['--json'], []].map((format) => spawnCli(['resume', runId, ...format, '--store', store], env, dir).done),
    );
    expect(results.map((r) => r.code).sort()).toEqual([0, 4]);
    const loser = results.find((r) => r.code === 4)!;
    expect(loser.stderr).toMatch(
      new RegExp(`run ${runId} is being driven by another process \\(pid \\d+ on .*\\); nothing was changed \\(RUN_LOCKED\\)`),
    );
    expect(loser.stdout).toBe('');
    const [stored] = await storedRuns(store);
    expect(stored!.record.status).toBe('succeeded');
    expect(stored!.history.filter((e) => e.type === 'task.interrupted')).toHaveLength(1);
    expect(stored!.history.filter((e) => e.type === 'task.started' && e.task === 't2').map((e) => 'attempt' in e && e.attempt)).toEqual([
      1, 2,
    ]);
    expect(
      readLog(log)
        .filter((l) => l.kind === 'start')
        .map((l) => `${l.task}#${l.attempt}`),
    ).toEqual(['t1#1', 't2#1', 't2#2', 't3#1', 't4#1', 't5#1', 'fin#1']);
  });
});

describe('bad stores fail loudly and are left as they are', () => {
  const dir = temp('bad-stores');
  const good = join(dir, 'good.db');

  const damaged = (name: string, damage: (path: string) => void) => {
    const path = join(dir, name, 'lockstep.db');
    mkdirSync(join(dir, name));
    copyFileSync(good, path);
    damage(path);
    return path;
  };

  it.each([
    ['truncated to half', (p: string) => truncateSync(p, Math.floor(statSync(p).size / 2)), 'STORE_CORRUPT', /truncated|malformed/],
    ['truncated to nothing', (p: string) => truncateSync(p, 0), 'STORE_CORRUPT', /empty \(0 bytes\)/],
    [
      'with overwritten pages',
      (p: string) => {
        const bytes = readFileSync(p);
        bytes.fill(0x5a, 4096, bytes.length);
        writeFileSync(p, bytes);
      },
      'STORE_CORRUPT',
      /corrupt|malformed|quick_check/,
    ],
    [
      'with a newer schema',
      (p: string) => {
        const db = new Database(p);
        db.pragma('user_version = 99');
        db.close();
      },
      'STORE_TOO_NEW',
      /schema version 99, newer than this lockstep supports \(\d+\)/,
    ],
  ])('a store %s: every command exits 3 with a clear error, and the bytes do not change', async (name, damage, code, message) => {
    if (!existsSync(good)) {
      for (let i = 0; i < 3; i++) await lockstep(['run', 'machines/hello.yaml', '--json', '--store', good]);
    }
    const path = damaged(name, damage);
    const before = sha(path);
    const files = readdirSync(join(path, '..'));
    for (const args of [['runs'], ['show', 'any'], ['resume', 'any'], ['rerun', 'any'], ['run', 'machines/hello.yaml']]) {
      const r = await lockstep([...args, '--store', path]);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`(${code})`);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(path);
      expect(r.stdout).toBe('');
    }
    expect(sha(path)).toBe(before);
    expect(readdirSync(join(path, '..'))).toEqual(files);
  });
});
