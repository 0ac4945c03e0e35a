import type { FinalEntry } from '../core/protocol/run-entry.js';
import type { LiveRun } from '../core/run/live-run.js';
import type { JournalEntry, RefusedStart, RunChanges } from '../ports/journal.js';
import type { RunRecord, RunUpdate } from '../ports/run-store.js';
import type { TopicMessage } from '../ports/transport.js';

/** What one batch does to one run, as the orchestrator builds it up: the journal's {@link RunChanges}, and what goes out. */
export interface Pending extends RunChanges {
  create?: RunRecord;
  readonly entries: JournalEntry[];
  update: { -readonly [K in keyof RunUpdate]: RunUpdate[K] };
  /** Id of the message being applied: dispatches name it as their cause. */
  cause?: string;
  /** The run's task commands (dispatches, cancels) produced in this batch, in order. */
  readonly sent: TopicMessage[];
  /** How many of `sent` have been checked against their topic's record limit. */
  checked: number;
}

export const newPending = (run: LiveRun): Pending => ({ run, entries: [], update: {}, sent: [], checked: 0 });

/** The run's pending writes in this batch, created on first use. */
export function pendingFor(pending: Map<string, Pending>, run: LiveRun): Pending {
  let p = pending.get(run.runId);
  if (!p) {
    p = newPending(run);
    pending.set(run.runId, p);
  }
  return p;
}

/** What one batch (or one resume) builds up before it is recorded. */
export interface Work {
  readonly at: number;
  readonly runs: Map<string, Pending>;
  /** Messages to send once the batch is recorded: commands and dead letters. */
  readonly out: TopicMessage[];
  /** Runs once the batch is recorded: timers, finished runs. */
  readonly after: Array<() => void>;
  readonly refused: RefusedStart[];
}

export const newWork = (at: number): Work => ({ at, runs: new Map(), out: [], after: [], refused: [] });

/** The final entry of a run whose `run.start` could not start it. */
export const refusedFinal = (runId: string, reason: string, at: number): FinalEntry => ({
  type: 'run.failed',
  runId,
  at,
  outcome: 'failed',
  durationMs: 0,
  failedTasks: [],
  reason: `not started: ${reason}`,
});
