import type { RunState } from '../../../core/protocol/run-state.js';
import type { Phase } from '../../../core/sequence/types.js';
import type { JournalStats } from '../../../ports/journal.js';
import type { TopicMessage } from '../../../ports/transport.js';
import type { TopicLimits } from '../../record-limits.js';
import { recordBytes } from '../../record-limits.js';
import type { HistoryMessage } from './history-records.js';
import { reducedHistoryRecord } from './history-records.js';
import { reducedRunState } from './reduced-run-state.js';

/** Broker refusals remembered at most (they must outlive the redelivery of the batch they failed). */
const MAX_REFUSED = 10_000;
/** A run's state record refused this often is not written any more (its reductions were refused too). */
const MAX_STATE_REFUSALS = 3;

/** A record of the run-state topic that holds a run's state. */
export type StateMessage = TopicMessage & { readonly value: RunState };

/** A run whose records cannot be written as they are: what it may still dispatch, and why. */
interface Unrecordable {
  readonly reason: string;
  /** Every dispatch fails (its stored state lost its results); otherwise only main-phase ones (the run must fail). */
  readonly all: boolean;
  /** Restored from a reduced state: its `reduced` (what was left out, and why), which every later state keeps. */
  readonly reduced?: { readonly reason: string; readonly dropped: readonly string[] };
}

/**
 * Keeps the Kafka journal's records (run states, history entries) within what the broker accepts: the limit of
 * their topics, the runs whose records could not be stored whole, and the records the broker refused for good.
 * Nothing is dropped silently: a record that does not fit is written reduced, saying what was left out and why,
 * and its run may not dispatch what would need the rest ({@link JournalRecords.blocked}).
 */
export class JournalRecords {
  readonly #limits: TopicLimits;
  readonly #topics: { readonly runs: string; readonly history: string };
  #stats: Pick<JournalStats, 'oversized' | 'refused'> = { oversized: 0, refused: 0 };
  readonly #unrecordable = new Map<string, Unrecordable>();
  /**
   * Refusals by the broker: `state:<runId>`, `history:<runId>` (any entry of the run) and `history:<runId>:<seq>`
   * -> how often, and why.
   */
  readonly #refused = new Map<string, { count: number; reason: string }>();

  constructor(limits: TopicLimits, topics: { readonly runs: string; readonly history: string }) {
    this.#limits = limits;
    this.#topics = topics;
  }

  /** Counts into the orchestrator's stats from now on. */
  countInto(stats: Pick<JournalStats, 'oversized' | 'refused'>): void {
    this.#stats = stats;
  }

  /** Why `record` cannot be written, counted in `oversized`; undefined when it fits. */
  oversized(record: TopicMessage, what: string): string | undefined {
    const reason = this.#limits.oversized(record, what);
    if (reason) this.#stats.oversized++;
    return reason;
  }

  /** Marks a run whose records did not fit: its main-phase dispatches fail from now on, so the run fails. */
  markUnrecordable(runId: string, reason: string): void {
    if (!this.#unrecordable.has(runId)) this.#unrecordable.set(runId, { reason, all: false });
  }

  /** Marks a run restored from a reduced state: every dispatch fails, and its states stay marked as reduced. */
  markRestoredReduced(runId: string, reduced: { readonly reason: string; readonly dropped: readonly string[] }): void {
    const reason = `the stored state of run ${runId} was reduced (${reduced.dropped.join(', ')} left out): ${reduced.reason}`;
    this.#unrecordable.set(runId, { reason, all: true, reduced });
  }

  /** Why a dispatch of the run in `phase` must fail instead of going out, if it must. */
  blocked(runId: string, phase: Phase): string | undefined {
    // A refused state is stored reduced, without the results; a refused entry, without its data.
    const refused = this.#refused.get(`state:${runId}`) ?? this.#refused.get(`history:${runId}`);
    if (refused) return refused.reason;
    const u = this.#unrecordable.get(runId);
    return u && (u.all || phase === 'main') ? u.reason : undefined;
  }

  /** Forgets a run that ended or moved to another orchestrator (a broker refusal is kept: its batch comes again). */
  forget(runId: string): void {
    this.#unrecordable.delete(runId);
  }

  /**
   * The run-state record to write for a run: as is when it fits and was never refused, else reduced (see
   * {@link reducedRunState}), one step further for every time the broker refused it; nothing after
   * {@link MAX_STATE_REFUSALS} refusals.
   */
  stateRecord(record: StateMessage, tooLargeReason: string | undefined): TopicMessage | undefined {
    const refused = this.#refused.get(`state:${record.key}`);
    const refusals = refused?.count ?? 0;
    const restored = this.#unrecordable.get(record.key);
    if (!tooLargeReason && refusals === 0) {
      // Restored without its results: it still lacks them, and a later takeover must know.
      const reduced = restored?.reduced;
      return reduced
        ? { ...record, value: { ...record.value, reduced: { reason: reduced.reason, dropped: [...reduced.dropped] } } }
        : record;
    }
    if (refusals > MAX_STATE_REFUSALS) return undefined;
    const limit = this.#limits.limitOf(record.topic);
    let level = 0;
    const value = reducedRunState(
      record.value,
      tooLargeReason ?? refused!.reason,
      (s) => ++level >= refusals && recordBytes({ ...record, value: s }) <= limit,
    );
    return { ...record, value };
  }

  /**
   * The history record to write for an entry: as is when it fits and was never refused, else reduced (see
   * {@link reducedHistoryRecord}), further once the broker refused it. Always one: the run's history has no gap.
   */
  historyRecord(record: HistoryMessage, tooLargeReason: string | undefined): HistoryMessage {
    const refused = this.#refused.get(`history:${record.key}:${record.value.seq}`);
    if (!tooLargeReason && !refused) return record;
    const limit = this.#limits.limitOf(record.topic);
    let level = 0;
    return reducedHistoryRecord(
      record,
      tooLargeReason ?? refused!.reason,
      (r) => ++level > (refused?.count ?? 0) && recordBytes(r) <= limit,
    );
  }

  /** The broker refused one of the journal's records for good: its run fails when its batch comes again. */
  refused(record: TopicMessage, error: Error): void {
    this.#stats.refused++;
    const code = (error as { code?: unknown }).code;
    const reason = `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`;
    const value = record.value as { type?: string; seq?: number } | null;
    const keys = value?.type === 'run.entry' ? [`history:${record.key}:${value.seq}`, `history:${record.key}`] : [`state:${record.key}`];
    for (const key of keys) {
      const known = this.#refused.get(key);
      this.#refused.delete(key);
      this.#refused.set(key, { count: (known?.count ?? 0) + 1, reason: known?.reason ?? reason });
    }
    while (this.#refused.size > MAX_REFUSED) this.#refused.delete(this.#refused.keys().next().value!);
  }

  /** Whether `record` is the journal's (a state or history record), not one of the orchestrator's own. */
  owns(record: TopicMessage): boolean {
    return record.topic === this.#topics.runs || record.topic === this.#topics.history;
  }
}
