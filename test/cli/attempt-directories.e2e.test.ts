// What a killed `lockstep run` leaves in the temp directory: SIGKILLed while a shell task runs, it cannot remove
// the attempt's directory, and the task lives on (embedded mode has no lifeline). The next lockstep process keeps
// that directory while the task's group runs, removes it once the group is gone, and leaves nothing of its own.
// Each lockstep process gets a temp directory of the test's own (TMPDIR), so what is left there is all there is.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockstep } from '../support/cli.js';
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
