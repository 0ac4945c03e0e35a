// Real shell tasks that trap SIGTERM and take a second to exit: after a timeout or a cancel, nothing else of the
// run starts before the stopped process has exited. Each process writes its own timestamps (ms since the epoch).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-stopped-shell-task-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A shell snippet that appends `<what> <ms since the epoch>` to the log. */
const stamp = (log: string, what: string) => `echo "${what} $(date +%s%3N)" >> ${log}`;

/** A task that runs until SIGTERM, then takes a second to clean up before it exits. */
const slowToStop = (log: string, name: string) =>
  `trap '${stamp(log, `${name}-term`)}; sleep 1; ${stamp(log, `${name}-exit`)}; exit 143' TERM; ${stamp(log, `${name}-start`)}; while true; do sleep 0.05; done`;

function readLog(log: string): Map<string, number> {
  return new Map(
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [what, at] = line.split(' ') as [string, string];
        return [what, Number(at)];
      }),
  );
}

async function runOnce(yaml: string, onEntry?: (e: RunEntry, cancel: () => void) => void) {
  const entries: RunEntry[] = [];
  const runtime = await createEmbeddedRuntime({
    onEntry: (e) => {
      entries.push(e);
      onEntry?.(e, () => void runtime.orchestrator.cancel(e.runId, 'test'));
    },
  });
  try {
    const sequence = loadSequenceText(yaml);
    runtime.register(sequence);
    const final = await runtime.run({ sequence: sequence.name });
    return { final, entries };
  } finally {
    await runtime.close();
  }
}

describe('a stopped shell task that takes a second to exit', () => {
  it('after its timeout, the next attempt starts only once it has exited', async () => {
    const dir = mkdtempSync(join(scratch, 'stop-retry-'));
    const log = join(dir, 'log');
    const yaml = [
      'name: stop-retry',
      'tasks:',
      '  - id: work',
      '    timeout: 300ms',
      '    retry: { maxAttempts: 2, backoff: { initial: 10ms } }',
      `    run: "if [ \\"$LOCKSTEP_ATTEMPT\\" = 1 ]; then ${slowToStop(log, 'attempt1').replace(/"/g, '\\"')}; fi; ${stamp(log, 'attempt2-start').replace(/"/g, '\\"')}"`,
      '',
    ].join('\n');
    const { final, entries } = await runOnce(yaml);
    expect(final.outcome).toBe('succeeded');
    const t = readLog(log);
    expect(t.get('attempt1-exit')! - t.get('attempt1-term')!).toBeGreaterThanOrEqual(900);
    // The retry's backoff (10 ms) ended long before: attempt 2 still waited for attempt 1's process to exit.
    expect(t.get('attempt2-start')!).toBeGreaterThanOrEqual(t.get('attempt1-exit')!);
    expect(entries.filter((e) => e.type.startsWith('task.')).map((e) => `${e.type} ${'attempt' in e ? e.attempt : ''}`)).toEqual([
      'task.started 1',
      'task.failed 1',
      'task.stopped 1',
      'task.started 2',
      'task.succeeded 2',
    ]);
    expect(entries.find((e) => e.type === 'task.stopped')).toMatchObject({ task: 'work', how: 'reported', error: { type: 'Cancelled' } });
  });

  it('after a cancel, the compensation and the finally task start only once it has exited, and then the run ends', async () => {
    const dir = mkdtempSync(join(scratch, 'stop-cancel-'));
    const log = join(dir, 'log');
    const yaml = [
      'name: stop-cancel',
      'tasks:',
      '  - id: prepare',
      `    run: "${stamp(log, 'prepare').replace(/"/g, '\\"')}"`,
      `    compensate: { run: "${stamp(log, 'undo-prepare').replace(/"/g, '\\"')}" }`,
      '  - id: wait',
      `    run: "${slowToStop(log, 'wait').replace(/"/g, '\\"')}"`,
      'finally:',
      '  - id: cleanup',
      `    run: "${stamp(log, 'cleanup').replace(/"/g, '\\"')}"`,
      '',
    ].join('\n');
    let cancelled = false;
    const { final, entries } = await runOnce(yaml, (e, cancel) => {
      if (cancelled || e.type !== 'task.started' || e.task !== 'wait') return;
      cancelled = true;
      // Cancel once the task is really running (its trap is installed).
      const poll = setInterval(() => {
        if (existsSync(log) && readFileSync(log, 'utf8').includes('wait-start')) {
          clearInterval(poll);
          cancel();
        }
      }, 20);
    });
    expect(final.outcome).toBe('cancelled');
    const t = readLog(log);
    expect([...t.keys()]).toEqual(['prepare', 'wait-start', 'wait-term', 'wait-exit', 'undo-prepare', 'cleanup']);
    expect(t.get('undo-prepare')!).toBeGreaterThanOrEqual(t.get('wait-exit')!);
    expect(t.get('cleanup')!).toBeGreaterThanOrEqual(t.get('undo-prepare')!);
    const types = entries.map((e) => ('task' in e ? `${e.type} ${e.task}` : e.type));
    expect(types.slice(types.indexOf('run.cancelling'))).toEqual([
      'run.cancelling',
      'task.stopped wait',
      'task.started prepare.compensate',
      'task.succeeded prepare.compensate',
      'task.started cleanup',
      'task.succeeded cleanup',
      'run.cancelled',
    ]);
    const stopped = entries.find((e) => e.type === 'task.stopped') as Extract<RunEntry, { type: 'task.stopped' }>;
    expect(stopped).toMatchObject({ attempt: 1, phase: 'main', how: 'reported' });
    expect(stopped.durationMs).toBeGreaterThanOrEqual(1_000);
  });
});
