import type { RunEntry } from '../core/protocol/run-entry.js';
import type { IgnoredReason } from '../core/step.js';

/**
 * What the metrics read of an orchestrator at each scrape. The runtime's `Orchestrator` is one as it is: its
 * counters only grow, and the runs it drives right now are the runs in flight of this process.
 */
export interface WatchedOrchestrator {
  readonly stats: { readonly ignored: Readonly<Record<IgnoredReason, number>>; readonly deadLettered: number };
  /** Runs driven here right now: started here, resumed, or restored when their partition was assigned. */
  readonly activeRuns: number;
}

/** The lag of a consumer group on one partition: the log end offset minus the group's committed offset. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly group: string;
  readonly lag: number;
}

/**
 * lockstep's metrics as the composition roots feed them: every durable history entry once, the orchestrator
 * whose counters and runs in flight are read at each scrape, and how to read the consumer lag (Kafka).
 */
export interface RunMetrics {
  /**
   * Counts one history entry that became durable. Call it once per entry (the orchestrator's `onEntry`). `sequence`
   * names the run's sequence (the orchestrator says it); without it, the run's start seen here names it.
   */
  observe(entry: RunEntry, sequence?: string): void;
  /** Reads this orchestrator's ignored events, dead letters and runs in flight at each scrape. */
  watch(orchestrator: WatchedOrchestrator): void;
  /** Reads the runs in flight from elsewhere (a process that follows runs other processes drive). */
  watchRunsInFlight(count: () => number): void;
  /** Reads the consumer lag at scrape time; a slow or failing read never holds the scrape up for long. */
  watchLag(read: () => Promise<readonly PartitionLag[]>): void;
}

/** The metrics in a text exposition format, as `GET /metrics` serves them. */
export interface MetricsExposition {
  /** The Content-Type of {@link MetricsExposition.text}'s answer. */
  readonly contentType: string;
  text(): Promise<string>;
}
