import type { Envelope, topicNames } from '../core/protocol/envelope.js';
import type { LiveRun } from '../core/run/live-run.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import { sequenceQueues } from '../core/sequence/queues.js';
import type { Journal } from '../ports/journal.js';
import type { DeadLetterSource, TopicMessage } from '../ports/transport.js';
import type { OrchestratorStats } from './orchestrator-options.js';
import type { Pending } from './pending-writes.js';
import type { TopicLimits } from './record-limits.js';
import { deadLetterRecord } from './record-limits.js';

/** Broker refusals remembered at most (they must outlive the redelivery of the batch they failed). */
const MAX_REFUSED = 10_000;

/** Attempts of one run failed in one batch because their records would not fit, at most (each fails for good, so a run has few). */
const MAX_FIT_ROUNDS = 10_000;

/**
 * Keeps the orchestrator's own output (task commands, dead letters) within what the broker accepts, so that no
 * record can wedge a partition: the record limit of each topic, and the records the broker refused for good.
 * Without limits (the in-process transport) it checks nothing. What a journal writes, it fits itself
 * ({@link Journal.unfit}).
 */
export class RecordGuard {
  readonly #stats: OrchestratorStats;
  readonly #deadLetterTopic: string;
  readonly #limits: TopicLimits;
  /**
   * Refusals by the broker, by what was refused: `commands:<runId>` (a dispatch or cancel) or
   * `dead-letter:<topic>:<partition>:<offset>` -> how often, and why.
   */
  readonly #refused = new Map<string, { count: number; reason: string }>();

  constructor(stats: OrchestratorStats, deadLetterTopic: string, limits: TopicLimits) {
    this.#stats = stats;
    this.#deadLetterTopic = deadLetterTopic;
    this.#limits = limits;
  }

  /** Why `record` cannot be written, counted in `oversized`; undefined when it fits. */
  oversized(record: TopicMessage, what: string): string | undefined {
    const reason = this.#limits.oversized(record, what);
    if (reason) this.#stats.oversized++;
    return reason;
  }

  /** Why the run's dispatches must fail instead of going out: the broker refused one of its commands for good. */
  blocked(runId: string): string | undefined {
    return this.#refused.get(`commands:${runId}`)?.reason;
  }

  /** A dead letter that fits its topic (smaller still once the broker refused it; none after a second refusal). */
  deadLetter(source: DeadLetterSource, reason: string, now: number): TopicMessage | undefined {
    this.#stats.deadLettered++;
    const refusals = this.#refused.get(`dead-letter:${source.topic}:${source.partition}:${source.offset}`)?.count ?? 0;
    if (refusals > 1) return undefined;
    return deadLetterRecord(this.#deadLetterTopic, source, reason, now, refusals === 1 ? 0 : this.#limits.limitOf(this.#deadLetterTopic));
  }

  /** The broker refused `record` for good: its run fails (or the dead letter shrinks) when its batch comes again. */
  refused(record: TopicMessage, error: Error): void {
    this.#stats.refused++;
    const value = record.value as { type?: string; source?: { topic: string; partition: number; offset: string } } | null;
    const key =
      value?.type === 'dead-letter' && value.source
        ? `dead-letter:${value.source.topic}:${value.source.partition}:${value.source.offset}`
        : `commands:${record.key}`;
    const known = this.#refused.get(key);
    this.#refused.delete(key);
    const code = (error as { code?: unknown }).code;
    this.#refused.set(key, {
      count: (known?.count ?? 0) + 1,
      reason: known?.reason ?? `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`,
    });
    if (this.#refused.size > MAX_REFUSED) this.#refused.delete(this.#refused.keys().next().value!);
  }
}

/** What {@link fitRun} does through the orchestrator. */
export interface FitHooks {
  /** Fails an attempt at once, not retriably, with `message` (the run's machine goes on from there). */
  fail(taskId: string, attempt: number, message: string): void;
  /** Keeps a record of the batch's output from being sent. */
  drop(record: TopicMessage): void;
}

/**
 * Keeps a run's records of one batch within their limits. A dispatch that would not fit, or that the run may no
 * longer make ({@link RecordGuard.blocked}, {@link Journal.blocked}), is not sent: its attempt fails at once, not
 * retriably, naming the record, its size and the limit, and the run goes on from there (compensations, finally
 * tasks). Records of the journal that would not fit ({@link Journal.unfit}) fail the main-phase task in flight
 * the same way; once nothing more can be failed, the journal writes them reduced.
 */
export function fitRun(guard: RecordGuard, journal: Journal, run: LiveRun, p: Pending, hooks: FitHooks): void {
  for (let round = 0; round < MAX_FIT_ROUNDS; round++) {
    let failed = false;
    while (p.checked < p.sent.length && !failed) {
      const m = p.sent[p.checked++]!;
      const env = m.value as Envelope;
      if (env.type !== 'task.dispatch') continue;
      const reason =
        guard.oversized(m, `task.dispatch record of task ${env.taskId} attempt ${env.attempt}`) ??
        guard.blocked(run.runId) ??
        journal.blocked(run.runId, env.payload.phase);
      if (!reason) continue;
      hooks.drop(m);
      hooks.fail(env.taskId, env.attempt, reason);
      failed = true;
    }
    if (failed) continue;
    const reason = journal.unfit(p);
    const current = run.snapshot.context.current;
    if (!reason || current?.phase !== 'main' || round === MAX_FIT_ROUNDS - 1) return;
    // Its dispatch, if this batch made it, is not sent.
    for (const m of p.sent) {
      const env = m.value as Envelope;
      if (env.type === 'task.dispatch' && env.taskId === current.taskId && env.attempt === current.attempt) hooks.drop(m);
    }
    hooks.fail(current.taskId, current.attempt, reason);
  }
}

/** Every topic an orchestrator writes to: the events, run-state, history and dead-letter topics, and each known queue's. */
export function outputTopics(registry: ProgramRegistry, topics: ReturnType<typeof topicNames>, defaultQueue: string): string[] {
  const queues = sequenceQueues(
    registry.names().map((name) => registry.resolve(name).program.sequence),
    defaultQueue,
  );
  return [topics.events, topics.runs, topics.history, topics.deadLetter, ...queues.map((q) => topics.commands(q))];
}
