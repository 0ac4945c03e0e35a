import type { Outcome, RunEvent, TaskError } from '../compile/types.js';
import type { Phase } from '../sequence/types.js';
import type { IgnoredReason } from '../step.js';

interface Base {
  readonly runId: string;
  /** Milliseconds since the epoch, from the runtime's clock. */
  readonly at: number;
}

/**
 * One line of a run's history. These are what `lockstep run --json` prints and what stores keep.
 * Entries that carry `event` record an input to the machine: replaying them rebuilds the run.
 */
export type RunEntry =
  | (Base & {
      readonly type: 'run.started';
      readonly sequence: string;
      readonly version: string;
      readonly input: unknown;
      readonly rerunOf?: string;
      readonly reused?: readonly string[];
      /** The W3C `traceparent` the run was started with (version 00 form): the parent of the run's trace. */
      readonly traceparent?: string;
    })
  | (Base & {
      readonly type: 'task.started';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly idempotencyKey: string;
    })
  | (Base & {
      /** A wait task's attempt began (right after its `task.started`): what it waits for, and until when. */
      readonly type: 'task.waiting';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      /** `signal`: a signal or rejection (`lockstep signal`); `time`: a delay, due at `until`. */
      readonly for: 'signal' | 'time';
      /** When the wait ends by itself, in ms since the epoch: a signal wait's timeout, a delay's due time. Absent: never. */
      readonly until?: number;
    })
  | (Base & {
      readonly type: 'task.succeeded';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly durationMs: number;
      readonly result?: unknown;
      readonly event: RunEvent;
    })
  | (Base & {
      readonly type: 'task.failed';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly durationMs: number;
      readonly error: TaskError;
      readonly willRetry: boolean;
      readonly retryInMs?: number;
      readonly event: RunEvent;
    })
  | (Base & {
      readonly type: 'task.interrupted';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly event: RunEvent;
    })
  | (Base & {
      /** An attempt the run had stopped (task timeout, cancel, run timeout) has ended; only now may the next one start. */
      readonly type: 'task.stopped';
      readonly task: string;
      readonly attempt: number;
      readonly phase: Phase;
      /** From the attempt's start to its end. */
      readonly durationMs: number;
      /**
       * `reported`: its own report arrived (`error` or `result` is what it reported, which changes nothing);
       * `interrupted`: it was lost with the process that ran it (`resume`); `grace-expired`: it did not report
       * within the stop grace, and the run went on without it.
       */
      readonly how: StopEnding;
      readonly error?: TaskError;
      readonly result?: unknown;
      readonly event: RunEvent;
    })
  | (Base & { readonly type: 'timer.fired'; readonly timerId: string; readonly event: RunEvent })
  | (Base & { readonly type: 'run.cancelling'; readonly reason: string; readonly event: RunEvent })
  | (Base & { readonly type: 'run.timed-out'; readonly event: RunEvent })
  | (Base & { readonly type: 'event.ignored'; readonly reason: IgnoredReason; readonly event: RunEvent })
  | (Base & {
      readonly type: 'run.succeeded' | 'run.failed' | 'run.cancelled';
      readonly outcome: Outcome;
      readonly reason?: string;
      readonly durationMs: number;
      readonly failedTasks: readonly string[];
    });

/** The kinds of {@link RunEntry}: `run.started`, `task.succeeded`, `run.failed` and the rest. */
export type RunEntryType = RunEntry['type'];

/** How a stopped attempt ended: see the `task.stopped` {@link RunEntry}. */
export type StopEnding = 'reported' | 'interrupted' | 'grace-expired';

/** The entry that ends a run: it succeeded, failed or was cancelled. */
export type FinalEntry = Extract<RunEntry, { type: 'run.succeeded' | 'run.failed' | 'run.cancelled' }>;

/** The one check for the entry that ends a run. */
export function isFinalEntry(entry: { readonly type: string }): entry is FinalEntry {
  return entry.type === 'run.succeeded' || entry.type === 'run.failed' || entry.type === 'run.cancelled';
}
