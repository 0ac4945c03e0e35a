import type { AttemptProcessTracker, AttemptRef } from '../ports/attempt-processes.js';
import type { ShellTaskRequest } from './shell-task.js';

/** Links one shell attempt to a tracker: the hook for its request, and the settling of its outcome. */
export interface AttemptTracking {
  /** Spread into the attempt's {@link ShellTaskRequest}. */
  readonly request: Pick<ShellTaskRequest, 'onStart'>;
  /**
   * Settles with the shell task's outcome once the tracker knows its group is gone. An attempt whose group could
   * not be recorded fails with the store's error, whatever the command did: a crash would have left it untracked.
   */
  settle<T>(outcome: Promise<T>): Promise<T>;
}

/** Tracks a shell attempt's process group with `tracker` (none: nothing is tracked). */
export function attemptTracking(tracker: AttemptProcessTracker | undefined, attempt: AttemptRef): AttemptTracking {
  if (!tracker) return { request: {}, settle: (outcome) => outcome };
  // Settles with the error when the group could not be recorded; handled at once, as the task is still running.
  let recorded: Promise<unknown> | undefined;
  const record = (pgid: number) => tracker.started(attempt, pgid).then(() => undefined, (error: unknown) => error ?? new Error('not recorded'));
  return {
    request: { onStart: ({ pgid }) => void (recorded = record(pgid)) },
    async settle(outcome) {
      try {
        return await outcome;
      } finally {
        if (recorded) {
          const failure = await recorded;
          if (failure !== undefined) throw failure;
          await tracker.ended(attempt);
        }
      }
    },
  };
}
