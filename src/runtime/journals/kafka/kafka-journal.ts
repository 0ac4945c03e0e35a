import type { topicNames } from '../../../core/protocol/envelope.js';
import { isFinalEntry } from '../../../core/protocol/run-entry.js';
import type { LiveRun } from '../../../core/run/live-run.js';
import type { DefinitionLookup, ProgramRegistry } from '../../../core/run/registry.js';
import { fetchRestoreDefinitions } from '../../../core/run/restore-run.js';
import type { Phase } from '../../../core/sequence/types.js';
import type { Clock } from '../../../ports/clock.js';
import type { EventsSource, JournalBatch, PartitionedJournal, RunChanges, RunHost } from '../../../ports/journal.js';
import type { Release, StoredRun } from '../../../ports/run-store.js';
import type { BatchHandler, DeadLetterSource, DurableLog, StoredMessage, Subscription, TopicMessage } from '../../../ports/transport.js';
import { TopicLimits } from '../../record-limits.js';
import { FinishedRuns } from './finished-runs.js';
import type { HistoryMessage } from './history-records.js';
import { eventlessHistoryRecord, historyRecordOf } from './history-records.js';
import type { StateMessage } from './journal-records.js';
import { JournalRecords } from './journal-records.js';
import { finalEntryOf, latestStates, offsetRecordOf, positionsOf, rejectedRunState, restoreRun, runStateOf } from './run-state-topic.js';

/** Tombstones of expired runs per transaction, at most. */
const EXPIRE_PER_BATCH = 500;
/** Ended runs whose partition is kept (to forget them when it is revoked), at most: as many as the orchestrator remembers. */
const MAX_ENDED = 10_000;

/** Options of {@link KafkaJournal}. */
export interface KafkaJournalOptions {
  /** The log the run-state and history topics live on; it carries the events topic too. */
  readonly log: DurableLog;
  readonly topics: ReturnType<typeof topicNames>;
  /** The sequences runs are restored under. */
  readonly registry: ProgramRegistry;
  /**
   * Finds definitions the registry does not know (in Kafka mode, on the definitions topic): before restoring, the
   * registry learns the exact definition every running state started with, so each run goes on under it.
   */
  readonly definitions?: DefinitionLookup;
  readonly clock: Clock;
  /** The record limit of each topic, as the log said when the orchestrator started. @default none */
  readonly limits?: ReadonlyMap<string, number>;
  /**
   * How long a finished run's state stays on the run-state topic before it is deleted (a tombstone, written in a
   * transaction of the run's partition). Until then `status` and `wait` find the run, and a duplicate `run.start`
   * with its id is ignored. @default 7 days
   */
  readonly keepFinishedMs?: number;
}

/** The records of one run's changes, checked against their limits. */
interface Fitted {
  /** How many of the changes' entries they cover. */
  readonly entries: number;
  /** The run's entry count before the changes: the `seq` of the first new one. */
  readonly first: number;
  readonly state: StateMessage;
  readonly stateTooLarge: string | undefined;
  /** `stillTooLarge`: why the record would not fit even without its entry's machine event. */
  readonly history: ReadonlyArray<{
    readonly record: HistoryMessage;
    readonly tooLarge: string | undefined;
    readonly stillTooLarge: string | undefined;
  }>;
}

/**
 * The journal of Kafka mode. Each batch's records go out in the batch's own transaction: every touched run's state
 * (snapshot, pending timers with due times, bookkeeping, entry count) on the compacted `<prefix>.runs` topic, every
 * new history entry, with its `seq` and the state after it, on `<prefix>.history`, and the position reached in the
 * events partition (a `partition.offset` record on the run-state topic). An orchestrator assigned a partition
 * restores its runs from the run-state topic (timers fire at their original due times), and finished runs' states
 * are deleted once `keepFinishedMs` has passed.
 */
export class KafkaJournal implements PartitionedJournal {
  readonly #log: DurableLog;
  readonly #topics: ReturnType<typeof topicNames>;
  readonly #registry: ProgramRegistry;
  readonly #definitions: DefinitionLookup | undefined;
  readonly #clock: Clock;
  readonly #records: JournalRecords;
  /** Finished runs, for deleting their state after the retention. */
  readonly #expiry: FinishedRuns;
  /** The events partition of each live run held here. */
  readonly #partitionOf = new Map<string, number>();
  /** How many history entries each live run held here has written (the `seq` of its next one). */
  readonly #entryCounts = new Map<string, number>();
  /** The events partition of runs that ended here or were restored ended (the latest {@link MAX_ENDED}). */
  readonly #endedIn = new Map<string, number>();
  readonly #fitted = new WeakMap<RunChanges, Fitted>();
  /** The orchestrator whose events this journal consumes, once it subscribed. */
  #host: RunHost | undefined;

  constructor(options: KafkaJournalOptions) {
    this.#log = options.log;
    this.#topics = options.topics;
    this.#registry = options.registry;
    this.#definitions = options.definitions;
    this.#clock = options.clock;
    this.#records = new JournalRecords(new TopicLimits(options.limits), options.topics);
    this.#expiry = new FinishedRuns(options.keepFinishedMs ?? 7 * 24 * 3600_000);
  }

  subscribe(events: EventsSource, host: RunHost, handler: BatchHandler): Promise<Subscription> {
    this.#host = host;
    this.#records.countInto(host.stats);
    const { topic, group } = events;
    return this.#log.subscribe(
      {
        topic,
        group,
        onAssigned: (partitions) => this.restore(partitions, host, group),
        onRevoked: async (partitions) => this.revoke(partitions, host),
        offsetRecord: (partition, nextOffset) => this.offsetRecord(group, partition, nextOffset),
        onRejected: (record, error) => (this.#records.owns(record) ? this.#records.refused(record, error) : host.refused(record, error)),
      },
      handler,
    );
  }

  /** Partition ownership decides who drives a run: there is nothing to lock. */
  async claim(_runId: string): Promise<Release> {
    return () => {};
  }

  remembers(runId: string): boolean {
    return this.#expiry.has(runId);
  }

  /** Runs go on wherever their partition is assigned: none is resumed by hand. */
  async load(_runId: string): Promise<StoredRun | undefined> {
    return undefined;
  }

  blocked(runId: string, phase: Phase): string | undefined {
    return this.#records.blocked(runId, phase);
  }

  unfit(changes: RunChanges): string | undefined {
    const fitted = this.#fit(changes);
    const reason = fitted.stateTooLarge ?? fitted.history.find((h) => h.stillTooLarge)?.stillTooLarge;
    if (reason) this.#records.markUnrecordable(changes.run.runId, reason);
    return reason;
  }

  async write(batch: JournalBatch): Promise<readonly TopicMessage[]> {
    const out: TopicMessage[] = [];
    const { partition } = batch;
    if (partition !== undefined) this.#expire(partition, batch.at, out);
    for (const { start, reason } of batch.refused) {
      // The run's state says why it never started, for clients waiting on it.
      const record: StateMessage = { topic: this.#topics.runs, key: start.runId, value: rejectedRunState(start, reason, batch.at) };
      const written = this.#records.stateRecord(record, this.#records.oversized(record, `run.state record of run ${start.runId}`));
      if (written) out.push(written);
      if (partition !== undefined) this.#ended(start.runId, partition, batch.at);
    }
    for (const changes of batch.runs.values()) {
      if (!changes.create && changes.entries.length === 0) continue;
      const { runId } = changes.run;
      if (partition !== undefined && !this.#partitionOf.has(runId)) this.#partitionOf.set(runId, partition);
      const fitted = this.#fit(changes);
      for (const h of fitted.history) out.push(this.#records.historyRecord(h.record, h.tooLarge));
      const state = this.#records.stateRecord(fitted.state, fitted.stateTooLarge);
      if (state) out.push(state);
      this.#entryCounts.set(runId, fitted.first + changes.entries.length);
      const final = changes.entries.find((e) => isFinalEntry(e.entry));
      if (final) {
        const at = this.#partitionOf.get(runId);
        this.#forgetLive(runId);
        if (at !== undefined) this.#ended(runId, at, final.entry.at);
      }
    }
    return out;
  }

  /**
   * Takes over the runs of newly assigned partitions from their last committed state. Returns where that state
   * stands in each events partition (from its offset record, if there is one).
   */
  async restore(partitions: readonly number[], host: RunHost, group: string): Promise<ReadonlyMap<number, string>> {
    const { states, offsets, malformed } = latestStates(await this.#log.readPartitions(this.#topics.runs, partitions));
    if (this.#definitions)
      await fetchRestoreDefinitions(
        this.#registry,
        [...states.values()].map((s) => s.state),
        this.#definitions,
      );
    const unrestored = malformed.map((m) => ({ source: this.#storedSource(m.record), reason: m.reason }));
    const finished: Array<{ runId: string; partition: number; at: number }> = [];
    for (const { state, partition, offset } of states.values()) {
      const final = finalEntryOf(state);
      if (final) {
        finished.push({ runId: state.runId, partition, at: final.at });
        host.remember(final);
        continue;
      }
      let run: LiveRun;
      try {
        run = restoreRun(this.#registry, state);
      } catch (error) {
        // A sequence this orchestrator does not know, a snapshot its machine cannot resolve: the run's events are
        // dead-lettered as unknown from now on.
        const record = { key: state.runId, value: JSON.stringify(state), partition, offset };
        unrestored.push({
          source: this.#storedSource(record),
          reason: `run.state record of run ${state.runId} cannot be restored: ${(error as Error).message}`,
        });
        continue;
      }
      // Its stored state lost its results: whatever it dispatches from here would miss them.
      if (state.reduced) this.#records.markRestoredReduced(run.runId, state.reduced);
      this.#partitionOf.set(run.runId, partition);
      // Records written before history was kept number their entries from here.
      this.#entryCounts.set(run.runId, state.entries ?? 0);
      host.drive(run);
      host.stats.restored++;
    }
    this.#expiry.drop(partitions);
    for (const f of finished.sort((a, b) => a.at - b.at)) this.#ended(f.runId, f.partition, f.at);
    await this.#deadLetter(host, unrestored);
    return positionsOf(offsets, this.#topics.events, group, partitions);
  }

  /** Forgets the runs of partitions this orchestrator no longer owns (or must reload). */
  revoke(partitions: readonly number[], host: RunHost): void {
    this.#expiry.drop(partitions);
    const gone = new Set(partitions);
    const dropped: string[] = [];
    // Runs that finished in a batch that may not have committed: restored again from the topic if still ours.
    for (const [runId, partition] of this.#endedIn) {
      if (!gone.has(partition)) continue;
      this.#endedIn.delete(runId);
      dropped.push(runId);
    }
    for (const [runId, partition] of this.#partitionOf) {
      if (!gone.has(partition)) continue;
      this.#forgetLive(runId);
      dropped.push(runId);
    }
    host.forget(dropped);
  }

  offsetRecord(group: string, partition: number, nextOffset: string): TopicMessage {
    return offsetRecordOf(this.#topics, group, partition, nextOffset, this.#clock.now());
  }

  /** The run's state and history records for its changes, checked against their limits once per set of entries. */
  #fit(changes: RunChanges): Fitted {
    const known = this.#fitted.get(changes);
    if (known && known.entries === changes.entries.length) return known;
    const { run, entries } = changes;
    const runId = run.runId;
    const first = this.#entryCounts.get(runId) ?? 0;
    const final = entries.find((e) => isFinalEntry(e.entry))?.entry;
    const at = entries[entries.length - 1]?.entry.at ?? this.#clock.now();
    const meta = {
      ...(run.definitionHash ? { definitionHash: run.definitionHash } : {}),
      ...(final && isFinalEntry(final) ? { final } : {}),
      entries: first + entries.length,
    };
    const state: StateMessage = { topic: this.#topics.runs, key: runId, value: runStateOf(run, meta, at) };
    const history = entries.map((e, i) => {
      const record = historyRecordOf(this.#topics.history, first + i, e);
      const what = `run.entry record ${first + i} (${e.entry.type}) of run ${runId}`;
      const tooLarge = this.#records.oversized(record, what);
      // Without its machine event (the same result or error once more) it may still fit: the run goes on.
      const stillTooLarge = tooLarge && this.#records.oversized(eventlessHistoryRecord(record, tooLarge), `${what}, without entry.event,`);
      return { record, tooLarge, stillTooLarge };
    });
    const fitted: Fitted = {
      entries: entries.length,
      first,
      state,
      stateTooLarge: this.#records.oversized(state, `run.state record of run ${runId}`),
      history,
    };
    this.#fitted.set(changes, fitted);
    return fitted;
  }

  #forgetLive(runId: string): void {
    this.#partitionOf.delete(runId);
    this.#entryCounts.delete(runId);
    this.#records.forget(runId);
  }

  #ended(runId: string, partition: number, at: number): void {
    this.#expiry.track(partition, runId, at);
    this.#endedIn.delete(runId);
    this.#endedIn.set(runId, partition);
    if (this.#endedIn.size > MAX_ENDED) this.#endedIn.delete(this.#endedIn.keys().next().value!);
  }

  /** Tombstones for the partition's finished runs whose retention ran out, in the batch's transaction. */
  #expire(partition: number, now: number, out: TopicMessage[]): void {
    const host = this.#host;
    for (const runId of this.#expiry.due(partition, now, EXPIRE_PER_BATCH)) {
      if (this.#partitionOf.has(runId)) continue; // its id was started again: that run's state stays
      out.push({ topic: this.#topics.runs, key: runId, value: null });
      this.#endedIn.delete(runId);
      if (!host) continue;
      host.forget([runId]);
      host.stats.expired++;
    }
  }

  /**
   * Records of the run-state topic that could not be restored are counted and dead-lettered with the reason
   * (outside any transaction: a takeover that reads them again dead-letters them again).
   */
  async #deadLetter(host: RunHost, failures: ReadonlyArray<{ source: DeadLetterSource; reason: string }>): Promise<void> {
    if (failures.length === 0) return;
    host.stats.restoreFailed += failures.length;
    const out: TopicMessage[] = [];
    for (const f of failures) {
      const record = host.deadLetter(f.source, f.reason);
      if (record) out.push(record);
    }
    await this.#log.publish(out);
  }

  #storedSource(record: StoredMessage): DeadLetterSource {
    return { topic: this.#topics.runs, partition: record.partition, offset: record.offset, key: record.key, raw: record.value ?? '' };
  }
}
