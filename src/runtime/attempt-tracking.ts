import type { AttemptProcessTracker, AttemptRef } from '../ports/attempt-processes.js';
import type { ShellTaskRequest } from './shell-task.js';

/** Links one shell attempt to a tracker: the hook for its request, and the settling of its outcome. */
export interface AttemptTracking {
  /** Spread into the attempt's {@link ShellTaskRequest}. */
  readonly request: Pick<ShellTaskRequest, 'onStart'>;
  /** The attempt's signal: `outer`, also aborted at once when its group could not be recorded. */
  signal(outer: AbortSignal): AbortSignal;
  /**
   * Settles with the shell task's outcome once the tracker knows its group is gone. An attempt whose group could
   * not be recorded fails with the store's error, whatever the command did: a crash would have left it untracked.
   */
  settle<T>(outcome: Promise<T>): Promise<T>;
}

/** Tracks a shell attempt's process group with `tracker` (none: nothing is tracked). */
export function attemptTracking(tracker: AttemptProcessTracker | undefined, attempt: AttemptRef): AttemptTracking {
  if (!tracker) return { request: {}, signal: (outer) => outer, settle: (outcome) => outcome };
  // Settles with the error when the group could not be recorded; handled at once, as the task is still running:
  // an untracked attempt is stopped (a crash now would leave an orphan resume cannot find), and fails with it.
  const untracked = new AbortController();
  let recorded: Promise<unknown> | undefined;
  const record = (pgid: number) =>
    tracker.started(attempt, pgid).then(
      () => undefined,
      (error: unknown) => {
        const failure = error ?? new Error('not recorded');
        untracked.abort(failure);
        return failure;
      },
    );
  return {
    // The command starts once its group is recorded (a crash before then leaves nothing running).
    request: {
      onStart: async ({ pgid }) => {
        recorded = record(pgid);
        const failure = await recorded;
        if (failure !== undefined) throw failure;
      },
    },
    signal: (outer) => AbortSignal.any([outer, untracked.signal]),
    async settle(outcome) {
      try {
        return await outcome;
      } finally {
        if (recorded) {
          const failure = await recorded;
          // The attempt's process could not be recorded: that failure, not the outcome, is what the run must see.
          // biome-ignore lint/correctness/noUnsafeFinally: replacing the outcome is the point
          if (failure !== undefined) throw failure;
          await tracker.ended(attempt);
        }
      }
    },
  };
}
