// The task executor of `lockstep test`: every attempt waits until the path being run says how it ends.
import type { ExecutionEvent } from '../core/paths/invariants.js';
import { SCRIPTED_FAILURE } from '../core/paths/run-model.js';
import type { DispatchedTask, Executor } from '../runtime/worker.js';

/** An attempt under way in a path: the path says how it ends. */
export interface Executing {
  /** The attempt's dispatch, to hand it to the worker of a branch of the run. */
  readonly task: DispatchedTask;
  readonly succeed: () => void;
  readonly fail: () => void;
  /** Set once the attempt is aborted (cancelled): it goes on until the path says how it ends. */
  stopped: boolean;
  /** Why it was aborted. */
  reason: unknown;
  /** The stopped attempt ends and reports its abort. */
  readonly report: () => void;
  /** The stopped attempt ends without a word, as on a dead worker; its report is held until `release` is called. */
  readonly vanish: () => () => void;
}

/**
 * A scripted executor: each attempt waits until the path says how it ends. An aborted attempt goes on too, as a
 * process that traps SIGTERM would, until the path says it ended (its report) or that it never reports (its stop
 * grace runs out).
 */
export function scriptedExecutor(
  executions: ExecutionEvent[],
  executing: Map<string, Executing>,
  result: ((task: DispatchedTask) => unknown) | undefined,
  inherited: Set<string>,
): Executor {
  return (task, signal) =>
    new Promise((resolve, reject) => {
      const x = { taskId: task.taskId, attempt: task.attempt, phase: task.payload.phase };
      const key = `${task.taskId}#${task.attempt}`;
      let done = false;
      const end = (): boolean => {
        if (done) return false;
        done = true;
        executing.delete(key);
        executions.push({ kind: 'end', ...x });
        return true;
      };
      const aborted = () => new Error(`aborted: ${String(signal.reason)}`);
      // An attempt a branch inherits started in the prefix, where its start was seen already.
      if (!inherited.delete(key)) executions.push({ kind: 'start', ...x });
      const entry: Executing = {
        task,
        stopped: signal.aborted,
        reason: signal.reason,
        succeed: () => end() && resolve(result?.(task)),
        fail: () => end() && reject(new Error(SCRIPTED_FAILURE.message)),
        report: () => end() && reject(aborted()),
        vanish: () => (end() ? () => reject(aborted()) : () => {}),
      };
      signal.addEventListener(
        'abort',
        () => {
          entry.stopped = true;
          entry.reason = signal.reason;
        },
        { once: true },
      );
      executing.set(key, entry);
    });
}
