import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';

/**
 * The history checker: reads whole run histories (the history topic in Kafka mode, the run store in embedded
 * mode) and checks the invariants lockstep promises. The fault suite runs it after every scenario; users can run
 * it over their own logs (`lockstep check-history`).
 *
 * API fixed first so that the fault suite can be written against it; the implementation lands separately.
 */

/** One run's history, in the order it happened (`seq` order on the history topic, entry order in a store). */
export interface RunHistory {
  readonly runId: string;
  readonly entries: readonly RunEntry[];
}

/** A `task.dispatch` seen on a command topic (redeliveries included): what workers were asked to run. */
export interface DispatchSeen {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly phase: string;
}

/** One execution of a task, as the task itself recorded it (a side-effect log): start and end times. */
export interface TaskExecution {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly startedAt: number;
  /** Absent when the process running it was killed. */
  readonly endedAt?: number;
}

export interface HistoryCheckOptions {
  /** The sequence a run ran, from its `run.started` entry: its tasks give the expected order, compensations and finally tasks. */
  readonly sequenceOf: (name: string, version: string) => Sequence | undefined;
  /** Runs that were started (by a load generator, say): each one missing from the histories is lost. */
  readonly expectedRunIds?: readonly string[];
  /** Dispatches read off the command topics, for the duplicate-dispatch count. */
  readonly dispatches?: readonly DispatchSeen[];
  /** Executions the tasks recorded themselves: two of one run that overlap in time are a violation. */
  readonly executions?: readonly TaskExecution[];
  /** A run that has not ended is legitimately waiting (on a timer, a signal, a task that takes long) when this says so. */
  readonly mayBeWaiting?: (history: RunHistory) => boolean;
}

/** The kinds of broken promise the checker finds. */
export type ViolationKind =
  | 'lost-run'
  | 'order'
  | 'overlapping-attempts'
  | 'duplicate-advancement'
  | 'finally'
  | 'compensation'
  | 'unfinished';

export interface HistoryViolation {
  readonly kind: ViolationKind;
  readonly runId: string;
  /** Precise: names the task, attempt and entry positions involved. */
  readonly message: string;
}

export interface HistoryReport {
  readonly runs: number;
  /** Runs whose history ends with a final entry. */
  readonly finished: number;
  /** Runs not ended that `mayBeWaiting` accepted. */
  readonly waiting: number;
  readonly violations: readonly HistoryViolation[];
  /** Violations per kind, every kind present (0 when none). */
  readonly counts: Readonly<Record<ViolationKind, number>>;
  /** Dispatches beyond the first of each (run, task, attempt, phase): redeliveries a worker saw. */
  readonly duplicateDispatches: number;
}

/** Checks every history against the invariants. Pure; never throws on bad histories (it reports them). */
export function checkHistory(_histories: readonly RunHistory[], _options: HistoryCheckOptions): HistoryReport {
  throw new Error('checkHistory: not implemented yet');
}
