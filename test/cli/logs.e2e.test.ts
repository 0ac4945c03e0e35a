import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-logs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sequenceFile(dir: string, name: string, lines: string[]): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, [`name: ${name}`, 'version: 1', ...lines, ''].join('\n'));
  return path;
}

/** The run id of a `lockstep run --json` output. */
const runIdOf = (stdout: string) => jsonLines(stdout).find((l) => l.type === 'run.started')?.runId as string;

describe('lockstep logs', () => {
  it('prints each attempt its lines with task, attempt and stream; --task, --attempt and --json narrow and reshape', async () => {
    const dir = mkdtempSync(join(scratch, 'once-'));
    const store = join(dir, 'store/');
    const file = sequenceFile(dir, 'logged', [
      'tasks:',
      '  - id: build',
      '    run: echo "try $LOCKSTEP_ATTEMPT"; sleep 0.05; echo "warning" >&2; [ "$LOCKSTEP_ATTEMPT" = 2 ]',
      '    retry: { maxAttempts: 2, backoff: { initial: 10ms } }',
      'finally:',
      '  - id: cleanup',
      '    run: echo cleaned',
    ]);
    const run = await lockstep(['run', file, '--store', store, '--json']);
    expect(run.code).toBe(0);
    const runId = runIdOf(run.stdout);

    const all = await lockstep(['logs', runId, '--store', store]);
    expect(all.code).toBe(0);
    expect(all.stdout.trimEnd().split('\n')).toEqual([
      'build#1 stdout | try 1',
      'build#1 stderr | warning',
      'build#2 stdout | try 2',
      'build#2 stderr | warning',
      'cleanup#1 (finally) stdout | cleaned',
    ]);

    const second = await lockstep(['logs', runId, '--store', store, '--task', 'build', '--attempt', '2', '--json']);
    expect(second.code).toBe(0);
    expect(jsonLines(second.stdout)).toEqual([
      { task: 'build', attempt: 2, phase: 'main', at: expect.any(Number), stream: 'stdout', text: 'try 2' },
      { task: 'build', attempt: 2, phase: 'main', at: expect.any(Number), stream: 'stderr', text: 'warning' },
    ]);

    const unknown = await lockstep(['logs', 'no-such-run', '--store', store]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown run no-such-run in');
    expect(unknown.stderr).toContain('(UNKNOWN_RUN)');
  });

  it('caps a loud attempt at --log-bytes, ending its log with the truncation marker', async () => {
    const dir = mkdtempSync(join(scratch, 'cap-'));
    const store = join(dir, 'store/');
    const file = sequenceFile(dir, 'loud', ['tasks:', '  - id: shout', '    run: yes 0123456789 | head -n 100']);
    const run = await lockstep(['run', file, '--store', store, '--json', '--log-bytes', '25']);
    expect(run.code).toBe(0);
    const logs = await lockstep(['logs', runIdOf(run.stdout), '--store', store]);
    expect(logs.stdout.trimEnd().split('\n')).toEqual([
      'shout#1 stdout | 0123456789',
      'shout#1 stdout | 0123456789',
      'shout#1 stdout | 01234',
      'shout#1 log    | … [lockstep: output truncated after 25 bytes; 975 bytes dropped]',
    ]);
  });

  it('-f follows a run that another process is running, and exits 0 once it ends', async () => {
    const dir = mkdtempSync(join(scratch, 'follow-'));
    const store = join(dir, 'store/');
    const gate = join(dir, 'gate');
    const file = sequenceFile(dir, 'gated', [
      'tasks:',
      '  - id: wait',
      `    run: echo "waiting"; while [ ! -f "${gate}" ]; do sleep 0.05; done; echo "through" >&2`,
      'finally:',
      '  - id: cleanup',
      '    run: echo cleaned',
    ]);
    let runId: string | undefined;
    const run = lockstep(['run', file, '--store', store, '--json'], {
      timeoutMs: 60_000,
      onStdout: (text) => {
        runId ??= runIdOf(text);
      },
    });
    while (!runId) await new Promise((r) => setTimeout(r, 20));
    let gateOpened = false;
    const follow = await lockstep(['logs', runId, '-f', '--store', store], {
      timeoutMs: 60_000,
      onStdout: (text) => {
        // The run is still waiting: its first line reached the follower before the task ended.
        if (!gateOpened && text.includes('wait#1 stdout | waiting')) {
          gateOpened = true;
          writeFileSync(gate, '');
        }
      },
    });
    expect(gateOpened).toBe(true);
    expect(follow.code).toBe(0);
    expect(follow.stdout.trimEnd().split('\n')).toEqual([
      'wait#1 stdout | waiting',
      'wait#1 stderr | through',
      'cleanup#1 (finally) stdout | cleaned',
    ]);
    expect((await run).code).toBe(0);
  });
  it('-f stops following a run whose process died, saying so, with exit 5', async () => {
    const dir = mkdtempSync(join(scratch, 'died-'));
    const store = join(dir, 'store/');
    const gate = join(dir, 'gate');
    const file = sequenceFile(dir, 'stuck', [
      'tasks:',
      '  - id: wait',
      `    run: echo "waiting"; while [ ! -f "${gate}" ]; do sleep 0.05; done`,
    ]);
    try {
      const run = await lockstep(['run', file, '--store', store, '--json'], {
        timeoutMs: 60_000,
        // Killed once the task runs: its shell outlives it (embedded attempts have no lifeline), the run is interrupted.
        onStdout: (text, child) => {
          if (text.includes('"type":"task.started"')) child.kill('SIGKILL');
        },
      });
      expect(run.signal).toBe('SIGKILL');
      const runId = runIdOf(run.stdout);
      const follow = await lockstep(['logs', runId, '-f', '--store', store], { timeoutMs: 60_000 });
      expect(follow.code).toBe(5);
      expect(follow.stderr).toContain(`run ${runId} is interrupted (no live process drives it): stopped following`);
    } finally {
      writeFileSync(gate, ''); // the orphaned shell ends
    }
  });
});
