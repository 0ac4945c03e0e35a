import type { Outcome } from '../compile/types.js';
import type { Sequence } from '../sequence/types.js';
import type { PathStep } from './path-graph.js';
import { StepToken } from './run-model.js';
import { indexTasks } from './task-index.js';

export type { TaskIndex } from './task-index.js';
export { indexTasks } from './task-index.js';

/**
 * What the sequence's policy says a path must lead to. Derived from the definition and the path's outcomes
 * alone, independently of the compiled machine, so that it can judge the machine.
 */
export interface Expectation {
  readonly outcome: Outcome;
  /** Why, in words: `charge failed 3 of 3 attempts (onFailure: stop)`. */
  readonly because: string;
  /** Whether the main phase was cut short (stop failure, cancel, run timeout): completed tasks are then compensated. */
  readonly unwinds: boolean;
}

/** The outcome the policy prescribes for a path. */
export function expectOutcome(sequence: Sequence, steps: readonly PathStep[]): Expectation {
  const tasks = indexTasks(sequence);
  const failures = new Map<string, number>();
  const last = sequence.tasks[sequence.tasks.length - 1]!.id;
  let outcome: Outcome | undefined;
  let because = `all ${sequence.tasks.length} tasks succeeded`;
  let mainOver = false;
  let unwinds = false;
  const continued: string[] = [];
  const finallyFailed: string[] = [];
  for (const step of steps) {
    const id = step.taskId;
    switch (step.token) {
      case StepToken.succeed:
      case StepToken.due:
        if (id === last && tasks.main.has(id)) mainOver = true;
        break;
      case StepToken.fail:
      case StepToken.timeout: {
        if (!id) break;
        const spec = tasks.spec(id)!;
        const wait = spec.action.kind === 'wait' ? spec.action.wait : undefined;
        // A rejection fails a signal wait for good: it is never retried.
        const rejected = wait !== undefined && step.token === StepToken.fail;
        const n = (failures.get(id) ?? 0) + 1;
        failures.set(id, n);
        if (n < spec.retry.maxAttempts && !rejected) break;
        if (tasks.finally.has(id)) finallyFailed.push(id);
        if (!tasks.main.has(id)) break;
        // A signal wait's timeout under onTimeout: continue lets the run go on, whatever its onFailure.
        const timedOutOn = wait?.for === 'signal' && step.token === StepToken.timeout && wait.onTimeout === 'continue';
        if (spec.onFailure === 'continue' || timedOutOn) {
          continued.push(timedOutOn && spec.onFailure !== 'continue' ? `${id} timed out under onTimeout: continue` : id);
          if (id === last) mainOver = true;
          break;
        }
        outcome = 'failed';
        because = rejected
          ? `${id} was rejected (onFailure: stop)`
          : wait
            ? `${id} timed out ${n} of ${spec.retry.maxAttempts} attempt${n === 1 ? '' : 's'} (onTimeout: fail)`
            : `${id} failed ${n} of ${spec.retry.maxAttempts} attempt${n === 1 ? '' : 's'} (onFailure: stop)`;
        mainOver = unwinds = true;
        break;
      }
      case StepToken.cancel:
        if (mainOver) break;
        outcome = 'cancelled';
        because = 'the run was cancelled';
        mainOver = unwinds = true;
        break;
      case StepToken.runTimeout:
        if (mainOver) break;
        outcome = 'failed';
        because = 'the run timed out';
        mainOver = unwinds = true;
        break;
      case StepToken.retry:
      case StepToken.stopped:
      case StepToken.stoppedOk:
      case StepToken.grace:
        break;
    }
  }
  if (outcome === undefined && continued.length > 0) because += ` or failed under onFailure: continue (${continued.join(', ')})`;
  if ((outcome ?? 'succeeded') === 'succeeded' && finallyFailed.length > 0) {
    return { outcome: 'failed', because: `finally task ${finallyFailed[0]} failed all its attempts`, unwinds };
  }
  return { outcome: outcome ?? 'succeeded', because, unwinds };
}
