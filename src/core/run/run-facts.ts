import type { CurrentTask } from '../compile/types.js';
import type { RunEntry } from '../protocol/run-entry.js';
import type { OnFailure } from '../sequence/types.js';
import type { Program } from '../step.js';
import { findSpec } from './live-run.js';

/**
 * What a run's history says it has done so far: the part of its machine context that views show. Each field means
 * what the {@link RunContext} field of the same name means, and a run's context can stand in for them. The
 * orchestrator reports a run's state value with each entry; the facts follow from the entries themselves, so a view
 * needs the history and that value, never a machine stepped again.
 */
export interface RunFacts {
  /** The attempt in flight. */
  readonly current: CurrentTask | null;
  /** The attempt the run stopped (timeout, cancel, run timeout) and waits for. */
  readonly stopping: CurrentTask | null;
  /** Dispatches so far, per task id. */
  readonly attempts: Readonly<Record<string, number>>;
  /** Main tasks that succeeded, in order. */
  readonly completed: readonly string[];
  /** Main tasks that failed under `onFailure: continue`. */
  readonly continued: readonly string[];
  /** The task whose failure stopped the run (or the first finally task that failed). */
  readonly error: { readonly taskId: string } | null;
  readonly compensated: readonly string[];
  readonly compensationFailed: readonly string[];
  readonly finallyFailed: readonly string[];
  readonly reason: string | null;
  /**
   * The wait in progress: its task (the attempt in flight), what it waits for, since when and until when. Only the
   * history has it: a machine context standing in for the facts lacks it.
   */
  readonly waiting?: WaitingFact | null;
}

/** A wait in progress, as its `task.waiting` entry says. */
export interface WaitingFact {
  readonly taskId: string;
  readonly for: 'signal' | 'time';
  /** When the wait began, in ms since the epoch. */
  readonly since: number;
  /** When it ends by itself (a signal wait's timeout, a delay's due time); absent: never. */
  readonly until?: number;
}

/** The facts of a run that has only started. */
export const NO_FACTS: RunFacts = {
  current: null,
  stopping: null,
  attempts: {},
  completed: [],
  continued: [],
  error: null,
  compensated: [],
  compensationFailed: [],
  finallyFailed: [],
  reason: null,
  waiting: null,
};

/**
 * How a main task's last failure goes on (its sequence's `onFailure`, or for a signal wait that timed out its
 * `onTimeout: continue`); `undefined` when the task is not known.
 */
export type OnFailureOf = (taskId: string, timedOut?: boolean) => OnFailure | undefined;

/** The `onFailure` of a program's tasks; with no program, every task stops the run. */
export const onFailureIn =
  (program: Program | undefined): OnFailureOf =>
  (taskId, timedOut) => {
    const spec = program ? findSpec(program, taskId) : undefined;
    const wait = spec?.action.kind === 'wait' ? spec.action.wait : undefined;
    return timedOut && wait?.for === 'signal' && wait.onTimeout === 'continue' ? 'continue' : spec?.onFailure;
  };

const attemptOf = (entry: { task: string; attempt: number; phase: CurrentTask['phase'] }): CurrentTask => ({
  taskId: entry.task,
  attempt: entry.attempt,
  phase: entry.phase,
});

/**
 * The attempt in flight becomes the one the run waits for, as the machine's `stopCurrent` does. A wait runs nothing,
 * so ending one stops nothing.
 */
const stopCurrent = (facts: RunFacts): Pick<RunFacts, 'current' | 'stopping' | 'waiting'> => ({
  current: null,
  stopping: facts.waiting ? facts.stopping : (facts.current ?? facts.stopping),
  waiting: null,
});

/**
 * The facts after one more entry. `onFailureOf` tells a main task that failed for good under `onFailure: continue`
 * from one that stops the run; a task it does not know stops the run.
 */
export function nextFacts(facts: RunFacts, entry: RunEntry, onFailureOf: OnFailureOf): RunFacts {
  switch (entry.type) {
    case 'run.started':
      return NO_FACTS;
    case 'task.started':
      return { ...facts, current: attemptOf(entry), attempts: { ...facts.attempts, [entry.task]: entry.attempt } };
    case 'task.waiting':
      return {
        ...facts,
        waiting: { taskId: entry.task, for: entry.for, since: entry.at, ...(entry.until === undefined ? {} : { until: entry.until }) },
      };
    case 'task.succeeded': {
      // A rerun's reused tasks succeed without a recorded dispatch: their attempt counts all the same.
      const attempts = { ...facts.attempts, [entry.task]: Math.max(facts.attempts[entry.task] ?? 0, entry.attempt) };
      return {
        ...facts,
        current: null,
        waiting: null,
        attempts,
        ...(entry.phase === 'main' ? { completed: [...facts.completed, entry.task] } : {}),
        ...(entry.phase === 'compensate' ? { compensated: [...facts.compensated, entry.task] } : {}),
      };
    }
    case 'task.failed': {
      const attempts = { ...facts.attempts, [entry.task]: Math.max(facts.attempts[entry.task] ?? 0, entry.attempt) };
      // A timeout stops the attempt; a report ends it.
      const timedOut = 'event' in entry && entry.event ? entry.event.type === 'TIMER_FIRED' : entry.error.code === 'TASK_TIMEOUT';
      const next: RunFacts = { ...facts, ...(timedOut ? stopCurrent(facts) : { current: null, waiting: null }), attempts };
      if (entry.willRetry) return next;
      if (entry.phase === 'compensate') return { ...next, compensationFailed: [...facts.compensationFailed, entry.task] };
      if (entry.phase === 'finally')
        return { ...next, finallyFailed: [...facts.finallyFailed, entry.task], error: facts.error ?? { taskId: entry.task } };
      if (onFailureOf(entry.task, timedOut) === 'continue') return { ...next, continued: [...facts.continued, entry.task] };
      return { ...next, error: { taskId: entry.task }, reason: `task ${entry.task} failed: ${entry.error.message}` };
    }
    case 'task.interrupted':
      return { ...facts, current: null, waiting: null };
    case 'task.stopped':
      return { ...facts, stopping: null };
    case 'run.cancelling':
      return { ...facts, ...stopCurrent(facts), reason: entry.reason || 'cancelled' };
    case 'run.timed-out':
      return { ...facts, ...stopCurrent(facts), reason: 'run timed out' };
    case 'timer.fired':
    case 'event.ignored':
      return facts;
    case 'run.succeeded':
    case 'run.failed':
    case 'run.cancelled':
      // Nothing is waited for once the run has ended.
      return { ...facts, current: null, stopping: null, waiting: null };
  }
}

/** The facts of a whole history (see {@link nextFacts}). */
export function runFacts(history: readonly RunEntry[], onFailureOf: OnFailureOf): RunFacts {
  let facts = NO_FACTS;
  for (const entry of history) facts = nextFacts(facts, entry, onFailureOf);
  return facts;
}
