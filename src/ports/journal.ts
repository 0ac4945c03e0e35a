import type { StateValue } from '../core/graph/model.js';
import type { EnvelopeOf } from '../core/protocol/envelope.js';
import type { FinalEntry, RunEntry } from '../core/protocol/run-entry.js';
import type { LiveRun } from '../core/run/live-run.js';
import type { Phase } from '../core/sequence/types.js';
import type { Release, RunRecord, RunUpdate, StoredRun } from './run-store.js';
import type { BatchHandler, DeadLetterSource, Subscription, TopicMessage } from './transport.js';

/** One history entry, with the run's state value (its snapshot's `value`) right after it. */
export interface JournalEntry {
  readonly entry: RunEntry;
  readonly state: StateValue;
}

/** What one batch did to one run. */
export interface RunChanges {
  /** The run as it stands after the batch. */
  readonly run: LiveRun;
  /** The run's record, when the batch started it. */
  readonly create?: RunRecord;
  /** Its new history entries, in order. */
  readonly entries: readonly JournalEntry[];
  /** What changed in its record. */
  readonly update: RunUpdate;
}

/** A `run.start` that could not start (its sequence is unknown, its input too large): the run failed at once. */
export interface RefusedStart {
  readonly start: EnvelopeOf<'run.start'>;
  /** Why, as the run's final entry says it. */
  readonly reason: string;
  readonly final: FinalEntry;
}

/** What the orchestrator persists for one batch of events. */
export interface JournalBatch {
  /** When the batch was applied (the orchestrator's clock). */
  readonly at: number;
  /** The events partition the batch came from (a batch holds one partition's messages); none for a resume. */
  readonly partition: number | undefined;
  /** Every run the batch touched. */
  readonly runs: ReadonlyMap<string, RunChanges>;
  readonly refused: readonly RefusedStart[];
}

/** Counters a journal keeps up to date (they are the orchestrator's: see `OrchestratorStats`). */
export interface JournalStats {
  restored: number;
  restoreFailed: number;
  oversized: number;
  refused: number;
  expired: number;
}

/** What a journal may do with the orchestrator's runs: when partitions change hands, or records expire. */
export interface RunHost {
  readonly stats: JournalStats;
  /** Drives a run the journal restored: it is held here from now on, and its pending timers are armed. */
  drive(run: LiveRun): void;
  /** Remembers a run that ended, as the journal has it: waiters get its final entry, late events are told apart. */
  remember(entry: FinalEntry): void;
  /** Stops driving these runs, or forgets that they ended: their partition went elsewhere, or their record expired. */
  forget(runIds: Iterable<string>): void;
  /** The dead letter of a record the journal could not restore, bounded to fit its topic (none once refused twice). */
  deadLetter(source: DeadLetterSource, reason: string): TopicMessage | undefined;
  /** The broker refused one of the orchestrator's own records (a command, a dead letter) for good. */
  refused(record: TopicMessage, error: Error): void;
}

/** The events topic, and the consumer group whose members share its partitions. */
export interface EventsSource {
  readonly topic: string;
  readonly group: string;
}

/**
 * Where an orchestrator's runs are kept: what it persists for each batch (per touched run: its record, its new
 * history entries each with the state after it, its state) and what it takes back when it starts consuming. Two
 * implementations: a history journal over a run store (embedded mode), and a Kafka journal (run-state and history
 * topics, written in the batch's transaction).
 */
export interface Journal {
  /**
   * Consumes the events topic for the orchestrator, keeping positions the way this journal does: `handler` returns
   * the batch's output, which already holds this journal's records (see {@link Journal.write}).
   */
  subscribe(events: EventsSource, host: RunHost, handler: BatchHandler): Promise<Subscription>;
  /**
   * Takes the exclusive right to drive a run before its first batch here (a store's run lock, or nothing where
   * partition ownership decides).
   *
   * @throws LockstepError RUN_LOCKED when another process drives the run.
   */
  claim(runId: string): Promise<Release>;
  /** Whether a run of this id ended and is still on record: a `run.start` with its id is a duplicate. */
  remembers(runId: string): boolean;
  /** The run as recorded (record, history), for `resume`; `undefined` when this journal keeps no such run. */
  load(runId: string): Promise<StoredRun | undefined>;
  /**
   * Why the run may not dispatch a task in `phase` any more, if it may not: its records could not be kept whole, so
   * a task that needs them would run without them. The dispatch fails at once instead.
   */
  blocked(runId: string, phase: Phase): string | undefined;
  /**
   * Why the records of the run's changes would not fit where this journal keeps them, if they would not. The
   * orchestrator then fails the run's main-phase attempt in flight at once, and asks again; the journal remembers
   * the reason, so the run's later main-phase dispatches are {@link Journal.blocked}. What still does not fit is
   * written reduced, saying what was left out.
   */
  unfit(changes: RunChanges): string | undefined;
  /**
   * Persists a batch. Resolves with the records that must commit with the batch's output, in its transaction (none
   * for a journal that wrote to a store: it resolves once that is durable). Rejects when it cannot record.
   */
  write(batch: JournalBatch): Promise<readonly TopicMessage[]>;
}

/**
 * A journal over a durable, partitioned log (Kafka): it restores the runs of partitions assigned to the
 * orchestrator from the log, drops those of revoked ones, and keeps each partition's position as a record of the
 * batch's own output, so that a takeover resumes exactly where the committed run states stand.
 */
export interface PartitionedJournal extends Journal {
  /** Takes over the runs of newly assigned partitions; resolves with where their committed states stand in each. */
  restore(partitions: readonly number[], host: RunHost, group: string): Promise<ReadonlyMap<number, string>>;
  /** Drops the runs of partitions this orchestrator no longer owns (or must read again). */
  revoke(partitions: readonly number[], host: RunHost): void;
  /** The record of how far `group` applied `partition` of the events topic (`nextOffset` is the next to consume). */
  offsetRecord(group: string, partition: number, nextOffset: string): TopicMessage;
}
