// Every shell attempt's private directory is gone once the attempt has ended, however it ended: succeeded, failed,
// refused, timed out, cancelled, or aborted by the runtime's close. Real shell tasks in an embedded runtime; each
// writes the directory it was given to a log, and the test checks that directory afterwards.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-attempt-cleanup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A shell snippet that logs the task's attempt directory (there while it runs) and then does `then`. */
const logged = (log: string, then: string) => `d=$(dirname "$LOCKSTEP_INPUT_FILE"); [ -d "$d" ] && echo "$d" >> ${log}; ${then}`;

const dirsIn = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);

/** Runs a one-task sequence whose task runs `then`; `onEntry` may cancel or close; returns the outcome and the dirs. */
async function attempt(
  name: string,
  task: Record<string, unknown>,
  then: string,
  onEntry?: (e: RunEntry, controls: { cancel: () => void; close: () => void }) => void,
) {
  const log = join(scratch, `${name}.log`);
  let closed: Promise<void> | undefined;
  let onClosed = () => {};
  const whenClosed = new Promise<string>((resolve) => (onClosed = () => resolve('closed')));
  const closing = () => {
    closed ??= runtime.close().then(onClosed);
    return closed;
  };
  const runtime = await createEmbeddedRuntime({
    onEntry: (e) => onEntry?.(e, { cancel: () => void runtime.orchestrator.cancel(e.runId, 'test'), close: () => void closing() }),
  });
  try {
    const sequence = loadSequenceText(JSON.stringify({ name, tasks: [{ id: 'work', ...task, run: logged(log, then) }] }));
    runtime.register(sequence);
    // A run whose runtime is closed never ends: its close is the end here.
    const outcome = await Promise.race([runtime.run({ sequence: name }).then((final) => final.outcome as string), whenClosed]);
    return { outcome, dirs: dirsIn(log) };
  } finally {
    await closing();
  }
}

/** Once the task has logged its directory, calls `act` (the task is running then). */
const whenRunning = (name: string, act: (controls: { cancel: () => void; close: () => void }) => void) => {
  let armed = false;
  return (e: RunEntry, controls: { cancel: () => void; close: () => void }) => {
    if (armed || e.type !== 'task.started') return;
    armed = true;
    const poll = setInterval(() => {
      if (dirsIn(join(scratch, `${name}.log`)).length === 0) return;
      clearInterval(poll);
      act(controls);
    }, 20);
  };
};

describe('the directory of a shell attempt', () => {
  it('is gone after an attempt that succeeded, with a result file', async () => {
    const r = await attempt('ok', {}, 'echo \'{"ok":1}\' > "$LOCKSTEP_RESULT_FILE"');
    expect(r.outcome).toBe('succeeded');
    expect(r.dirs).toHaveLength(1);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });

  it('is gone after each failed attempt, retries included', async () => {
    const r = await attempt('failing', { retry: { maxAttempts: 3, backoff: { initial: '10ms' } } }, 'exit 3');
    expect(r.outcome).toBe('failed');
    expect(new Set(r.dirs).size).toBe(3);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });

  it('is gone after an attempt whose result is refused (not JSON)', async () => {
    const r = await attempt('refused', {}, 'echo "not json" > "$LOCKSTEP_RESULT_FILE"');
    expect(r.outcome).toBe('failed');
    expect(r.dirs).toHaveLength(1);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });

  it('is gone after an attempt that timed out, one that ignores SIGTERM included', async () => {
    const r = await attempt(
      'timeout',
      { timeout: '300ms', retry: { maxAttempts: 2, backoff: { initial: '10ms' } } },
      "trap '' TERM; sleep 2",
    );
    expect(r.outcome).toBe('failed');
    expect(new Set(r.dirs).size).toBe(2);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });

  it('is gone after an attempt whose run was cancelled', async () => {
    const r = await attempt(
      'cancelled',
      {},
      'sleep 10',
      whenRunning('cancelled', (c) => c.cancel()),
    );
    expect(r.outcome).toBe('cancelled');
    expect(r.dirs).toHaveLength(1);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });

  it('is gone after an attempt aborted by closing the runtime while it runs', async () => {
    const r = await attempt(
      'closed',
      {},
      'sleep 10',
      whenRunning('closed', (c) => c.close()),
    );
    expect(r.outcome).toBe('closed');
    expect(r.dirs).toHaveLength(1);
    for (const d of r.dirs) expect(existsSync(d)).toBe(false);
  });
});
