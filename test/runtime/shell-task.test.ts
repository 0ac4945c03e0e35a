import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runShellTask, shellEnvironment } from '../../src/runtime/shell-task.js';

const pids = (marker: string): string[] => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe('shell tasks', () => {
  it('returns the last stdout line that parses as JSON', async () => {
    const r = await runShellTask({ run: 'echo \'{"a":1}\'; echo \'{"b":2}\'; echo done', env: {}, signal: new AbortController().signal });
    expect(r.result).toEqual({ b: 2 });
  });

  it('fails on a non-zero exit and keeps the tail of stdout and stderr', async () => {
    const error = await runShellTask({
      run: 'echo working; echo "disk full" >&2; exit 7',
      env: {},
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'command exited with code 7', retriable: true });
    expect((error as { output: string }).output).toContain('working');
    expect((error as { output: string }).output).toContain('disk full');
  });

  it('passes run data through the environment, never through the command string', async () => {
    const hostile = '$(touch /tmp/lockstep-pwned); rm -rf / `id` "\'; echo pwned';
    const env = shellEnvironment({
      runId: 'r1',
      taskId: 'create-order',
      attempt: 2,
      idempotencyKey: 'r1:create-order:2',
      phase: 'main',
      input: { s: hostile },
      results: { 'create-order': { id: 'o-1' } },
    });
    const r = await runShellTask({
      run: 'printf "%s" "$LOCKSTEP_INPUT" > /dev/null; node -e "console.log(JSON.stringify({input: JSON.parse(process.env.LOCKSTEP_INPUT), key: process.env.LOCKSTEP_IDEMPOTENCY_KEY, attempt: process.env.LOCKSTEP_ATTEMPT, prev: process.env.LOCKSTEP_RESULT_CREATE_ORDER}))"',
      env,
      signal: new AbortController().signal,
    });
    expect(r.result).toEqual({ input: { s: hostile }, key: 'r1:create-order:2', attempt: '2', prev: '{"id":"o-1"}' });
  });

  it('on cancellation kills the whole process group, children included', async () => {
    const marker = `sleep 31.${process.pid}`;
    const controller = new AbortController();
    const running = runShellTask({ run: `${marker} & ${marker}; wait`, env: {}, signal: controller.signal, killGraceMs: 500 });
    const anchored = `^${marker}`; // the sleeps themselves, not the shell whose command line names them
    for (let i = 0; i < 50 && pids(anchored).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pids(anchored).length).toBe(2);
    controller.abort('timed out');
    await expect(running).rejects.toMatchObject({ message: 'cancelled: timed out' });
    for (let i = 0; i < 50 && pids(anchored).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pids(anchored)).toEqual([]);
  });
});
