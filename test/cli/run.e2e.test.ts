import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const tasksOf = (lines: Array<Record<string, unknown>>, type: string) =>
  lines.filter((l) => l.type === type).map((l) => `${l.task}#${l.attempt}`);

describe('lockstep run: the examples', () => {
  it('hello succeeds with exit 0, tasks in order, and a summary', async () => {
    const r = await lockstep(['run', 'machines/hello.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✔ greet succeeded in \d+ms \(attempt 1\)/);
    expect(r.stdout).toContain('✔ run succeeded');
    expect(r.stdout.indexOf('greet started')).toBeLessThan(r.stdout.indexOf('count started'));
  });

  it('--json prints one object per event with the documented fields', async () => {
    const r = await lockstep(['run', 'machines/retry-backoff.yaml', '--json']);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines[0]).toMatchObject({ type: 'run.started', sequence: 'retry-backoff' });
    expect(tasksOf(lines, 'task.started')).toEqual(['fetch#1', 'fetch#2', 'fetch#3', 'store#1']);
    const failed = lines.filter((l) => l.type === 'task.failed');
    expect(failed.map((f) => f.willRetry)).toEqual([true, true]);
    // 200ms then 400ms, each reduced by at most 10% jitter.
    const delays = failed.map((f) => f.retryInMs as number);
    expect(delays[0]).toBeGreaterThanOrEqual(180);
    expect(delays[0]).toBeLessThanOrEqual(200);
    expect(delays[1]).toBeGreaterThanOrEqual(360);
    expect(delays[1]).toBeLessThanOrEqual(400);
    expect(failed[0]).toMatchObject({ phase: 'main', error: { message: 'command exited with code 1' } });
    expect(lines.filter((l) => l.type === 'task.started').every((l) => l.phase === 'main')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: 'run.succeeded' });
  });

  it('continue-on-failure succeeds and lists the failed task', async () => {
    const r = await lockstep(['run', 'machines/continue-on-failure.yaml', '--json']);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(tasksOf(lines, 'task.started')).toEqual(['build#1', 'notify#1', 'archive#1']);
    expect(lines.at(-1)).toMatchObject({ type: 'run.succeeded', failedTasks: ['notify'] });
  });

  it('cleanup-always fails with exit 1 and still runs each finally task once', async () => {
    const r = await lockstep(['run', 'machines/cleanup-always.yaml', '--json']);
    expect(r.code).toBe(1);
    const lines = jsonLines(r.stdout);
    expect(tasksOf(lines, 'task.started')).toEqual(['lock#1', 'migrate#1', 'unlock#1', 'cleanup-tmp#1']);
    expect(lines.filter((l) => l.phase === 'finally' && l.type === 'task.succeeded')).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ type: 'run.failed', failedTasks: ['migrate'] });
  });

  it('compensation undoes completed work in reverse order, then runs finally', async () => {
    const r = await lockstep(['run', 'machines/compensation.yaml', '--json']);
    expect(r.code).toBe(1);
    const lines = jsonLines(r.stdout);
    expect(tasksOf(lines, 'task.started')).toEqual([
      'create-order#1',
      'reserve-stock#1',
      'charge#1',
      'reserve-stock.compensate#1',
      'create-order.compensate#1',
      'audit#1',
    ]);
  });
});

describe('lockstep run: input and errors', () => {
  it('passes --input full of shell metacharacters unchanged and executes nothing', async () => {
    const dir = mkdtempSync(join(scratch, 'input-'));
    const canary = join(dir, 'pwned');
    const input = { cmd: `$(touch ${canary}); rm -rf ${dir}/*; \`touch ${canary}\` && echo "'; touch ${canary} #` };
    writeFileSync(join(dir, 'echo.yaml'), 'name: echo\ntasks:\n  - id: echo\n    run: printf \'%s\\n\' "$LOCKSTEP_INPUT"\n');
    const r = await lockstep(['run', join(dir, 'echo.yaml'), '--json', '--input', JSON.stringify(input)]);
    expect(r.code).toBe(0);
    const done = jsonLines(r.stdout).find((l) => l.type === 'task.succeeded');
    expect(done?.result).toEqual(input);
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(join(dir, 'echo.yaml'))).toBe(true);
  });

  it('reads --input from a file with @', async () => {
    const dir = mkdtempSync(join(scratch, 'input-'));
    writeFileSync(join(dir, 'in.json'), '{"n": 42}');
    const r = await lockstep(['run', 'machines/hello.yaml', '--json', '--input', `@${join(dir, 'in.json')}`]);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ input: { n: 42 } });
  });

  it('exits 2 on invalid --input and on an invalid definition', async () => {
    const bad = await lockstep(['run', 'machines/hello.yaml', '--input', '{nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--input: expected JSON');
    const invalid = await lockstep(['run', 'test/fixtures/invalid/01-max-attempts-zero.yaml']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('tasks[2].retry.maxAttempts: expected an integer >= 1, got 0');
  });
});

describe('lockstep run: timeouts and Ctrl-C', () => {
  it('a timeout kills a hung shell task and its children', async () => {
    const dir = mkdtempSync(join(scratch, 'timeout-'));
    const marker = `sleep 47.${process.pid}`;
    writeFileSync(
      join(dir, 'hang.yaml'),
      `name: hang\ntasks:\n  - id: hang\n    run: "${marker} & ${marker}; wait"\n    timeout: 300ms\nfinally:\n  - id: check\n    run: "pgrep -f '${marker}' || echo none-left"\n`,
    );
    const r = await lockstep(['run', join(dir, 'hang.yaml'), '--json']);
    expect(r.code).toBe(1);
    const lines = jsonLines(r.stdout);
    expect(lines.find((l) => l.type === 'task.failed')).toMatchObject({ task: 'hang', error: { code: 'TASK_TIMEOUT' } });
    const { execFileSync } = await import('node:child_process');
    let left = '';
    for (let i = 0; i < 50; i++) {
      try {
        left = execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' });
      } catch {
        left = '';
      }
      if (left === '') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(left).toBe('');
  });

  it('on SIGINT cancels the running task, runs compensations and finally tasks once, and exits 130', async () => {
    const dir = mkdtempSync(join(scratch, 'sigint-'));
    const log = join(dir, 'log');
    writeFileSync(
      join(dir, 'long.yaml'),
      [
        'name: long',
        'tasks:',
        '  - id: prepare',
        `    run: echo prepare >> ${log}`,
        `    compensate: { run: "echo undo-prepare >> ${log}" }`,
        // On SIGTERM the task takes its time to exit: the compensation must still come after it.
        '  - id: wait',
        `    run: "trap 'sleep 0.5; echo got-term >> ${log}; exit 143' TERM; echo waiting >> ${log}; while true; do sleep 0.05; done"`,
        'finally:',
        '  - id: cleanup',
        `    run: echo cleanup >> ${log}`,
        '',
      ].join('\n'),
    );
    let poll: NodeJS.Timeout | undefined;
    const r = await lockstep(['run', join(dir, 'long.yaml'), '--json'], {
      onStdout: (out, child) => {
        if (poll || !out.includes('"task":"wait"')) return;
        // Interrupt once the task is really running (its trap is installed).
        poll = setInterval(() => {
          if (existsSync(log) && readFileSync(log, 'utf8').includes('waiting')) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 20);
      },
    });
    expect(r.code).toBe(130);
    // The cancelled task ends before anything else starts: this order is guaranteed, not a race.
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['prepare', 'waiting', 'got-term', 'undo-prepare', 'cleanup']);
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => `${l.type}${l.task ? ` ${l.task}` : ''}`).slice(-7)).toEqual([
      'run.cancelling',
      'task.stopped wait',
      'task.started prepare.compensate',
      'task.succeeded prepare.compensate',
      'task.started cleanup',
      'task.succeeded cleanup',
      'run.cancelled',
    ]);
    expect(lines.find((l) => l.type === 'task.stopped')).toMatchObject({ task: 'wait', attempt: 1, phase: 'main', how: 'reported' });
    expect(lines.at(-1)).toMatchObject({ type: 'run.cancelled', reason: 'interrupted by SIGINT' });
    expect(r.stderr).toContain('SIGINT received');
  });
});
