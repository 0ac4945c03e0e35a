// What a killed `lockstep run` leaves in the temp directory: SIGKILLed while a shell task runs, it cannot remove
// the attempt's directory, and the task lives on (embedded mode has no lifeline). The next lockstep process keeps
// that directory while the task's group runs, removes it once the group is gone, and leaves nothing of its own.
// Each lockstep process gets a temp directory of the test's own (TMPDIR), so what is left there is all there is.
// A process that exits (process.exit, with attempts in flight) removes its own, but for an attempt that runs on.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lockstep, ROOT } from '../support/cli.js';
import { sleep, spawnCli } from '../support/crash-sequence.js';

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-attempt-dirs-e2e-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const groupRuns = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('attempt directories of a killed lockstep run', () => {
  it('are kept while the orphaned task runs, then removed by the next lockstep process', async () => {
    const dir = mkdtempSync(join(scratch, 'run-'));
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const log = join(dir, 'log');
    writeFileSync(
      join(dir, 'slow.yaml'),
      ['name: slow', 'tasks:', '  - id: nap', `    run: echo "$$ $(dirname "$LOCKSTEP_INPUT_FILE")" >> ${log}; sleep 3`, ''].join('\n'),
    );
    writeFileSync(join(dir, 'quick.yaml'), ['name: quick', 'tasks:', '  - id: hello', '    run: echo hello', ''].join('\n'));
    const env = { TMPDIR: temp };
    const killed = spawnCli(['run', 'slow.yaml', '--store', 'runs.db'], env, dir);
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('\n'), 'the task to start');
    const [pgid, attemptDir] = readFileSync(log, 'utf8').trim().split(' ') as [string, string];
    killed.child.kill('SIGKILL');
    expect((await killed.done).signal).toBe('SIGKILL');
    expect(existsSync(attemptDir)).toBe(true);
    const parent = dirname(attemptDir);
    expect(dirname(parent)).toBe(temp);

    // While the orphan runs, a new lockstep process leaves its directory alone, and removes its own.
    const during = await lockstep(['run', 'quick.yaml', '--store', 'quick.db'], { cwd: dir, env });
    expect(during.code).toBe(0);
    expect(groupRuns(Number(pgid))).toBe(true);
    expect(existsSync(attemptDir)).toBe(true);
    expect(readdirSync(temp)).toEqual([parent.slice(temp.length + 1)]);

    // Once it has ended, the next one removes it: nothing is left.
    await until(() => !groupRuns(Number(pgid)), 'the orphaned task to end');
    const after = await lockstep(['run', 'quick.yaml', '--store', 'quick.db'], { cwd: dir, env });
    expect(after.code).toBe(0);
    expect(existsSync(parent)).toBe(false);
    expect(readdirSync(temp)).toEqual([]);
  });
});

describe('attempt directories of a process that exits', () => {
  const root = mkdtempSync(join(scratch, 'exit-'));
  it('are removed, with the parent, when this process exits, but for an attempt whose process group runs', async () => {
    const script = `import { AttemptDirectories, recordGroup } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/runtime/attempt-directories.js')).href)};
import { execFileSync, spawn } from 'node:child_process';
const dirs = new AttemptDirectories(${JSON.stringify(root)});
const done = await dirs.make();
const running = await dirs.make();
const group = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
recordGroup(running, group.pid);
group.unref();
console.log(JSON.stringify({ done, running, pgid: group.pid }));
process.exit(0);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { done, running, pgid } = JSON.parse(out) as { done: string; running: string; pgid: number };
    try {
      expect(existsSync(done)).toBe(false);
      expect(existsSync(running)).toBe(true);
      expect(readdirSync(dirname(running))).toEqual([basename(running)]);
    } finally {
      process.kill(-pgid, 'SIGKILL');
      rmSync(dirname(running), { recursive: true, force: true });
    }
  });
});
