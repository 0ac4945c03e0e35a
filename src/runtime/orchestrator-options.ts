import type { IgnoredReason } from '../core/step.js';
import type { Clock } from '../ports/clock.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { RunStore } from '../ports/run-store.js';
import type { Transport } from '../ports/transport.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import type { Reuse } from '../core/run/live-run.js';

export interface OrchestratorOptions {
  readonly transport: Transport;
  readonly store: RunStore;
  readonly clock: Clock;
  readonly registry: ProgramRegistry;
  /** @default 'lockstep' */
  readonly topicPrefix?: string;
  /** @default 'lockstep-orchestrators' */
  readonly group?: string;
  /** Identifies this process in run locks. @default a random id */
  readonly owner?: string;
  /** Queue of shell and handler tasks. @default 'default' */
  readonly defaultQueue?: string;
  /** Called with every history entry once it is durable. */
  readonly onEntry?: (entry: RunEntry) => void;
  /**
   * Kafka mode: write each touched run's state (snapshot, pending timers with due times, bookkeeping) to the
   * compacted `<prefix>.runs` topic with the step's commands, in the batch's transaction, and restore the runs of
   * partitions assigned to this orchestrator from that topic (timers fire at their original due times). The
   * position reached in each events partition is written there too, in the same transaction (a
   * `partition.offset` record), so a takeover resumes exactly where the committed run states stand. Needs a
   * transport that can read partitions back. @default false
   */
  readonly runStateTopic?: boolean;
  /**
   * Kafka mode: how long a finished run's state stays on the run-state topic before it is deleted (a tombstone,
   * written in a transaction of the run's partition). Until then `status` and `wait` find the run, and a duplicate
   * `run.start` with its id is ignored. @default 7 days
   */
  readonly keepFinishedMs?: number;
  /**
   * Called by `resume` under the run's lock, before any of its tasks runs again: stops what the dead process's
   * attempts left running (their process groups), and resolves once it is gone.
   */
  readonly stopOrphans?: (runId: string) => Promise<void>;
}


/** What a client asks for when it starts a run. */
export interface StartRequest {
  readonly sequence: string;
  readonly version?: string;
  readonly input?: unknown;
  readonly runId?: string;
  readonly rerunOf?: string;
  readonly reuse?: Reuse;
}

/** Counters an operator watches: events applied, ignored by reason, and dead-lettered messages. */
export interface OrchestratorStats {
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
