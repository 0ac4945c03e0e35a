import type { StateValue } from '../core/graph/model.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import type { IgnoredReason } from '../core/step.js';
import type { Clock } from '../ports/clock.js';
import type { Journal, JournalStats } from '../ports/journal.js';
import type { RunTracer } from '../ports/run-tracer.js';
import type { Transport } from '../ports/transport.js';

/** Options of an {@link Orchestrator}. */
export interface OrchestratorOptions {
  /** Carries events in, and commands, timer events and dead letters out. */
  readonly transport: Transport;
  /** Where runs are kept: what each batch persists, and what is taken back when partitions are assigned. */
  readonly journal: Journal;
  readonly clock: Clock;
  readonly registry: ProgramRegistry;
  /** @default 'lockstep' */
  readonly topicPrefix?: string;
  /** @default 'lockstep-orchestrators' */
  readonly group?: string;
  /** Queue of shell and handler tasks. @default 'default' */
  readonly defaultQueue?: string;
  /**
   * The record limit of each topic the orchestrator writes to (see `outputTopics`), as the transport said: a
   * dispatch or dead letter over its topic's limit is never sent. @default none
   */
  readonly recordLimits?: ReadonlyMap<string, number>;
  /**
   * Called with every history entry once it is durable, the run's state value (`snapshot.value`) right after it,
   * and the name of the run's sequence (which only `run.started` carries).
   */
  readonly onEntry?: (entry: RunEntry, state: StateValue, sequence: string) => void;
  /**
   * Receives every history entry once it is durable, for the runs' traces; with one, each dispatch carries its
   * attempt's `traceparent`. @default none (dispatches carry the `traceparent` a run started with, if any)
   */
  readonly tracer?: RunTracer;
  /**
   * Called by `resume` under the run's lock, before any of its tasks runs again: stops what the dead process's
   * attempts left running (their process groups), and resolves once it is gone.
   */
  readonly stopOrphans?: (runId: string) => Promise<void>;
}

export type { StartRequest } from '../core/run/start-request.js';

/** Counters an operator watches: events applied, ignored by reason, and dead-lettered messages. */
export interface OrchestratorStats extends JournalStats {
  applied: number;
  ignored: Record<IgnoredReason, number>;
  deadLettered: number;
  /** Runs restored from the run-state topic when their partition was assigned here. */
  restored: number;
  /** Run-state records that could not be read or restored when their partition was assigned here (each dead-lettered). */
  restoreFailed: number;
  /** Records that would have exceeded their topic's limit: their run's attempt failed, or the state was stored reduced. */
  oversized: number;
  /** Records the broker refused for good (too large, invalid): their run failed when the batch came again. */
  refused: number;
  /** Finished runs whose state was deleted from the run-state topic after the retention. */
  expired: number;
}
