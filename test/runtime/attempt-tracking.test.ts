// An attempt whose process group cannot be recorded is stopped at once: a crash while it ran would leave an
// orphan that resume could not find. It fails with the store's error, not after the command's own end.
import { describe, expect, it } from 'vitest';
import { ErrorCode, LockstepError } from '../../src/core/errors.js';
import { attemptTracking } from '../../src/runtime/attempt-tracking.js';
import { runShellTask } from '../../src/runtime/shell-task.js';

describe('attempt tracking', () => {
  it('stops a shell attempt whose group could not be recorded, and fails it with the store error', async () => {
    const full = new LockstepError(ErrorCode.storeFull, 'run store /x/lockstep.db: database or disk is full (SQLITE_FULL)');
    let ended = false;
    const tracking = attemptTracking(
      {
        started: () => Promise.reject(full),
        ended: async () => {
          ended = true;
        },
      },
      { runId: 'r', taskId: 't', attempt: 1 },
    );
    const t0 = Date.now();
    const outcome = tracking.settle(
      runShellTask({
        run: 'sleep 30',
        env: {},
        signal: tracking.signal(new AbortController().signal),
        killGraceMs: 500,
        ...tracking.request,
      }),
    );
    await expect(outcome).rejects.toBe(full);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(ended).toBe(false);
  });

  it('leaves a recorded attempt alone and forgets it once it ended', async () => {
    let ended = false;
    const tracking = attemptTracking(
      {
        started: async () => {},
        ended: async () => {
          ended = true;
        },
      },
      { runId: 'r', taskId: 't', attempt: 1 },
    );
    const result = await tracking.settle(
      runShellTask({
        run: 'sleep 0.2; echo \'{"ok":1}\'',
        env: {},
        signal: tracking.signal(new AbortController().signal),
        ...tracking.request,
      }),
    );
    expect(result.result).toEqual({ ok: 1 });
    expect(ended).toBe(true);
  });

  it('starts the command only once its group is recorded', async () => {
    let recordedAt = 0;
    const tracking = attemptTracking(
      {
        started: async () => {
          await new Promise((r) => setTimeout(r, 300));
          recordedAt = Date.now();
        },
        ended: async () => {},
      },
      { runId: 'r', taskId: 't', attempt: 1 },
    );
    const outcome = await tracking.settle(
      runShellTask({
        run: 'echo "{\\"at\\": $(date +%s%3N)}"',
        env: {},
        signal: tracking.signal(new AbortController().signal),
        ...tracking.request,
      }),
    );
    expect(recordedAt).toBeGreaterThan(0);
    expect((outcome.result as { at: number }).at).toBeGreaterThanOrEqual(recordedAt);
  });
});
