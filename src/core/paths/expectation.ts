import type { Outcome } from '../compile/types.js';
import type { Sequence, TaskSpec } from '../sequence/types.js';
import type { PathStep } from './path-graph.js';
import { StepToken } from './run-model.js';

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

/** Where a task id belongs in a sequence, and its spec. */
export interface TaskIndex {
  readonly main: ReadonlyMap<string, { readonly spec: TaskSpec; readonly index: number }>;
  readonly compensations: ReadonlyMap<string, { readonly spec: TaskSpec; readonly of: string }>;
  readonly finally: ReadonlyMap<string, { readonly spec: TaskSpec; readonly index: number }>;
  spec(taskId: string): TaskSpec | undefined;
}

const indexes = new WeakMap<Sequence, TaskIndex>();

/** Indexes a sequence's tasks by id. A validated sequence never changes: each is indexed once. */
export function indexTasks(sequence: Sequence): TaskIndex {
  let index = indexes.get(sequence);
  if (!index) {
    index = buildIndex(sequence);
    indexes.set(sequence, index);
  }
  return index;
}

function buildIndex(sequence: Sequence): TaskIndex {
  const main = new Map(sequence.tasks.map((spec, index) => [spec.id, { spec, index }]));
  const compensations = new Map(
    sequence.tasks.flatMap((t) => (t.compensate ? [[t.compensate.id, { spec: t.compensate, of: t.id }] as const] : [])),
  );
  const fin = new Map(sequence.finally.map((spec, index) => [spec.id, { spec, index }]));
  return {
    main,
    compensations,
    finally: fin,
    spec: (id) => main.get(id)?.spec ?? compensations.get(id)?.spec ?? fin.get(id)?.spec,
  };
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
        if (id === last && tasks.main.has(id)) mainOver = true;
        break;
      case StepToken.fail:
      case StepToken.timeout: {
        if (!id) break;
        const spec = tasks.spec(id)!;
        const n = (failures.get(id) ?? 0) + 1;
        failures.set(id, n);
        if (n < spec.retry.maxAttempts) break;
        if (tasks.finally.has(id)) finallyFailed.push(id);
        if (!tasks.main.has(id)) break;
        if (spec.onFailure === 'continue') {
          continued.push(id);
          if (id === last) mainOver = true;
          break;
        }
        outcome = 'failed';
        because = `${id} failed ${n} of ${spec.retry.maxAttempts} attempt${n === 1 ? '' : 's'} (onFailure: stop)`;
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
