import type { LockstepError } from '../core/errors.js';
import type { Envelope, topicNames } from '../core/protocol/envelope.js';
import type { Phase } from '../core/sequence/types.js';
import type { RunState } from '../core/protocol/run-state.js';
import type { TopicMessage, Transport } from '../ports/transport.js';
import type { OrchestratorStats } from './orchestrator-options.js';
import type { Pending } from './pending-writes.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import type { LiveRun } from '../core/run/live-run.js';
import type { DeadLetterSource } from './record-limits.js';
import { deadLetterRecord, recordBytes, reducedRunState, tooLarge } from './record-limits.js';
import { sequenceQueues } from '../core/sequence/queues.js';

/** Broker refusals remembered at most (they must outlive the redelivery of the batch they failed). */
const MAX_REFUSED = 10_000;
/** A run's state record refused this often is not written any more (its reductions were refused too). */
const MAX_STATE_REFUSALS = 3;

/** Attempts of one run failed in one batch because their records would not fit, at most (each fails for good, so a run has few). */
const MAX_FIT_ROUNDS = 10_000;

/** A run whose records cannot be written as they are: what it may still dispatch, and why. */
interface Unrecordable {
  readonly reason: string;
  /** Every dispatch fails (its stored state lost its results); otherwise only main-phase ones (the run must fail). */
  readonly all: boolean;
  /** Restored from a reduced state: its `reduced` (what was left out, and why), which every later state keeps. */
  readonly reduced?: { readonly reason: string; readonly dropped: readonly string[] };
}

/**
 * Keeps an orchestrator's output within what the broker accepts, so that no record can wedge a partition: the
 * record limit of each topic (read when the orchestrator starts), the runs whose state could not be stored whole,
 * and the records the broker refused for good. Without limits (the in-process transport) it checks nothing.
 */
export class RecordGuard {
  readonly #stats: OrchestratorStats;
  readonly #runsTopic: string;
  readonly #deadLetterTopic: string;
  #limits: ReadonlyMap<string, number> | undefined;
  #fallback = Infinity;
  readonly #unrecordable = new Map<string, Unrecordable>();
  /**
   * Refusals by the broker, by what was refused: `state:<runId>`, `commands:<runId>` (a dispatch or cancel) or
   * `dead-letter:<topic>:<partition>:<offset>` -> how often, and why.
   */
  readonly #refused = new Map<string, { count: number; reason: string }>();

  constructor(stats: OrchestratorStats, topics: { readonly runs: string; readonly deadLetter: string }) {
    this.#stats = stats;
    this.#runsTopic = topics.runs;
    this.#deadLetterTopic = topics.deadLetter;
  }

  /** Reads the limits of `topics` from the transport, if it has any; a topic not among them gets the smallest. */
  async load(transport: Transport, topics: readonly string[]): Promise<void> {
    if (!transport.recordLimits) return;
    this.#limits = await transport.recordLimits(topics);
    this.#fallback = Math.min(...this.#limits.values());
  }

  /** The largest record `topic` accepts (key and value bytes); Infinity without limits. */
  limitOf(topic: string): number {
    return this.#limits?.get(topic) ?? this.#fallback;
  }

  /** Why `record` cannot be written (`<what> is N bytes, over the L-byte limit of <topic>`), or undefined when it fits. */
  oversized(record: TopicMessage, what: string): string | undefined {
    const limit = this.limitOf(record.topic);
    if (limit === Infinity) return undefined;
    const bytes = recordBytes(record);
    if (bytes <= limit) return undefined;
    this.#stats.oversized++;
    return tooLarge(what, bytes, limit, record.topic);
  }

  /** Marks a run whose state did not fit: its main-phase dispatches fail from now on, so the run fails. */
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
    // A refused dispatch would be refused again; a refused state is stored reduced, without the results.
    const refused = this.#refused.get(`commands:${runId}`) ?? this.#refused.get(`state:${runId}`);
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
  stateRecord(record: TopicMessage & { readonly value: RunState }, tooLargeReason: string | undefined): TopicMessage | undefined {
    const refused = this.#refused.get(`state:${record.key}`);
    const refusals = refused?.count ?? 0;
    const restored = this.#unrecordable.get(record.key);
    if (!tooLargeReason && refusals === 0) {
      // Restored without its results: it still lacks them, and a later takeover must know.
      const reduced = restored?.reduced;
      return reduced ? { ...record, value: { ...record.value, reduced: { reason: reduced.reason, dropped: [...reduced.dropped] } } } : record;
    }
    if (refusals > MAX_STATE_REFUSALS) return undefined;
    const limit = this.limitOf(record.topic);
    let level = 0;
    const value = reducedRunState(record.value, tooLargeReason ?? refused!.reason, (s) => ++level >= refusals && recordBytes({ ...record, value: s }) <= limit);
    return { ...record, value };
  }

  /** A dead letter that fits its topic (smaller still once the broker refused it; none after a second refusal). */
  deadLetter(source: DeadLetterSource, reason: string, now: number): TopicMessage | undefined {
    this.#stats.deadLettered++;
    const refusals = this.#refused.get(`dead-letter:${source.topic}:${source.partition}:${source.offset}`)?.count ?? 0;
    if (refusals > 1) return undefined;
    return deadLetterRecord(this.#deadLetterTopic, source, reason, now, refusals === 1 ? 0 : this.limitOf(this.#deadLetterTopic));
  }

  /** The broker refused `record` for good: the run it belongs to fails (or the dead letter shrinks) when its batch comes again. */
  refused(record: TopicMessage, error: LockstepError): void {
    this.#stats.refused++;
    const value = record.value as { type?: string; source?: { topic: string; partition: number; offset: string } } | null;
    const key = value?.type === 'dead-letter' && value.source
      ? `dead-letter:${value.source.topic}:${value.source.partition}:${value.source.offset}`
      : `${record.topic === this.#runsTopic ? 'state' : 'commands'}:${record.key}`;
    const known = this.#refused.get(key);
    this.#refused.delete(key);
    this.#refused.set(key, { count: (known?.count ?? 0) + 1, reason: known?.reason ?? `${error.code}: ${error.message}` });
    if (this.#refused.size > MAX_REFUSED) this.#refused.delete(this.#refused.keys().next().value!);
  }
}

/** What {@link fitRun} does through the orchestrator. */
export interface FitHooks {
  /** Fails an attempt at once, not retriably, with `message` (the run's machine goes on from there). */
  fail(taskId: string, attempt: number, message: string): void;
  /** The run's state record as it stands now; undefined without a run-state topic. */
  stateRecord(): (TopicMessage & { readonly value: RunState }) | undefined;
  write(record: TopicMessage): void;
  /** Keeps a record of the batch's output from being sent. */
  drop(record: TopicMessage): void;
}

/**
 * Keeps a run's records of one batch within their topics' limits, then writes its state record. A dispatch that
 * would not fit, or that the run may no longer make ({@link RecordGuard.blocked}), is not sent: its attempt fails
 * at once, not retriably, naming the record, its size and the limit, and the run goes on from there (compensations,
 * finally tasks). A state that would not fit fails the main-phase task in flight the same way, and is stored
 * reduced (results left out, see `reduced`) once nothing more can be failed.
 */
export function fitRun(guard: RecordGuard, run: LiveRun, p: Pending, hooks: FitHooks): void {
  for (let round = 0; round < MAX_FIT_ROUNDS; round++) {
    let failed = false;
    while (p.checked < p.sent.length && !failed) {
      const m = p.sent[p.checked++]!;
      const env = m.value as Envelope;
      if (env.type !== 'task.dispatch') continue;
      const reason = guard.oversized(m, `task.dispatch record of task ${env.taskId} attempt ${env.attempt}`) ?? guard.blocked(run.runId, env.payload.phase);
      if (!reason) continue;
      hooks.drop(m);
      hooks.fail(env.taskId, env.attempt, reason);
      failed = true;
    }
    if (failed) continue;
    const record = hooks.stateRecord();
    if (!record) return;
    const reason = guard.oversized(record, `run.state record of run ${run.runId}`);
    if (reason) guard.markUnrecordable(run.runId, reason);
    const current = run.snapshot.context.current;
    if (reason && current?.phase === 'main' && round < MAX_FIT_ROUNDS - 1) {
      // Its dispatch, if this batch made it, is not sent.
      for (const m of p.sent) {
        const env = m.value as Envelope;
        if (env.type === 'task.dispatch' && env.taskId === current.taskId && env.attempt === current.attempt) hooks.drop(m);
      }
      hooks.fail(current.taskId, current.attempt, reason);
      continue;
    }
    const written = guard.stateRecord(record, reason);
    if (written) hooks.write(written);
    return;
  }
}

/** Every topic an orchestrator writes to: the events, run-state and dead-letter topics, and each known queue's. */
export function outputTopics(registry: ProgramRegistry, topics: ReturnType<typeof topicNames>, defaultQueue: string): string[] {
  const queues = sequenceQueues(registry.names().map((name) => registry.resolve(name).program.sequence), defaultQueue);
  return [topics.events, topics.runs, topics.deadLetter, ...queues.map((q) => topics.commands(q))];
}
