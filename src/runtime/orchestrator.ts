import type { FinalEntry } from '../core/protocol/run-entry.js';
import { isFinalEntry } from '../core/protocol/run-entry.js';
import { randomUUID } from 'node:crypto';
import type { Command, RunEvent } from '../core/compile/types.js';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { Envelope } from '../core/protocol/envelope.js';
import type { RunState } from '../core/protocol/run-state.js';
import { topicNames } from '../core/protocol/envelope.js';
import { assertRunId } from '../core/protocol/partition-offset.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { ConsumedMessage, Subscription, TopicMessage } from '../ports/transport.js';
import type { LiveRun } from '../core/run/live-run.js';
import { advance, beginRun, replay } from '../core/run/live-run.js';
import { taskCommandMessage } from './command-messages.js';
import { assertInputWithinLimits } from '../core/run/data-limits.js';
import { FinishedRuns } from './finished-runs.js';
import type { Pending } from './pending-writes.js';
import { newPending, pendingFor, persistPending } from './pending-writes.js';
import type { OrchestratorOptions, OrchestratorStats, StartRequest } from './orchestrator-options.js';
import { TimerService } from './timers.js';
import { envelope, reuseFromWire, reuseToWire, toRunEvent } from './messages.js';
import { finalEntryOf, latestStates, offsetRecordOf, positionsOf, rejectedRunState, restoreRun, runStateOf } from './run-state-topic.js';
import type { UnreadableRecord } from './run-state-topic.js';
import { fitRun, outputTopics, RecordGuard } from './record-guard.js';
import type { DeadLetterSource } from './record-limits.js';
import { boundedEvent } from './record-limits.js';

export type { OrchestratorOptions, OrchestratorStats, StartRequest } from './orchestrator-options.js';

/** Tombstones of expired runs per transaction, at most. */
const EXPIRE_PER_BATCH = 500;

/**
 * Drives runs: consumes events, steps each run's machine, records history durably, then executes the
 * commands (dispatches and cancels go out as messages, timers are armed). One batch of events from many
 * runs is recorded in one go.
 */
export class Orchestrator {
  readonly stats: OrchestratorStats = {
    applied: 0, ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 }, deadLettered: 0, restored: 0, restoreFailed: 0, expired: 0, oversized: 0,
    refused: 0,
  };
  readonly #o: OrchestratorOptions;
  readonly #topics: ReturnType<typeof topicNames>;
  readonly #runs = new Map<string, LiveRun>();
  readonly #releases = new Map<string, () => void>();
  readonly #finished = new Map<string, FinalEntry>();
  /** Kafka mode: the events partition of each run in #finished. */
  readonly #finishedIn = new Map<string, number>();
  readonly #waiters = new Map<string, Array<{ resolve: (entry: FinalEntry) => void; reject: (error: unknown) => void }>>();
  /** Why this orchestrator stopped driving runs, once it has (see {@link Orchestrator.fail}). */
  #failure: { readonly error: unknown } | undefined;
  readonly #failureListeners: Array<(error: unknown) => void> = [];
  readonly #timers: TimerService;
  readonly #owner: string;
  /** Kafka mode: the events partition of each run held here. */
  readonly #partitionOf = new Map<string, number>();
  /** Kafka mode: finished runs, for deleting their state after the retention. */
  readonly #expiry: FinishedRuns;
  /** Kafka mode: keeps every record within its topic's limit. */
  readonly #guard: RecordGuard;
  #subscription: Subscription | undefined;

  constructor(options: OrchestratorOptions) {
    this.#o = options;
    this.#topics = topicNames(options.topicPrefix);
    this.#owner = options.owner ?? `orchestrator-${randomUUID()}`;
    this.#expiry = new FinishedRuns(options.keepFinishedMs ?? 7 * 24 * 3600_000);
    this.#guard = new RecordGuard(this.stats, this.#topics);
    this.#timers = new TimerService(options.clock, (t) => {
      const message = this.#message({ type: 'timer.fired', runId: t.runId, payload: { timerId: t.timerId, dueAt: t.dueAt } });
      this.#o.transport.publish([{ topic: this.#topics.events, key: t.runId, value: message }]).catch((error: unknown) => {
        // A transport that says retrying is pointless (closed) ends this orchestrator; others get another try.
        if (error instanceof LockstepError && !error.retriable) this.fail(error);
        else this.#timers.arm({ ...t, dueAt: this.#o.clock.now() + 100 });
      });
    });
  }

  /** Starts consuming the events topic. */
  async start(): Promise<void> {
    const keep = this.#o.runStateTopic;
    if (keep && !this.#o.transport.readPartitions) throw new LockstepError(ErrorCode.invalidUsage, 'runStateTopic needs a transport that can read partitions back (Kafka)');
    const group = this.#o.group ?? 'lockstep-orchestrators';
    await this.#guard.load(this.#o.transport, outputTopics(this.#o.registry, this.#topics, this.#o.defaultQueue ?? 'default'));
    this.#subscription = await this.#o.transport.subscribe(
      {
        topic: this.#topics.events, group,
        ...(keep ? {
          onAssigned: (p: readonly number[]) => this.#restore(group, p),
          onRevoked: async (p: readonly number[]) => this.#revoke(p),
          offsetRecord: (partition: number, offset: string) => offsetRecordOf(this.#topics, group, partition, offset, this.#o.clock.now()),
        } : {}),
        onRejected: (record, error) => this.#guard.refused(record, error),
      },
      (batch) => this.#handle(batch),
    );
  }

  /** Asks for a new run; resolves to its id once the request is published. */
  async startRun(request: StartRequest): Promise<string> {
    const runId = request.runId ?? randomUUID();
    assertRunId(runId);
    assertInputWithinLimits(this.#o.registry.resolve(request.sequence, request.version).program.sequence, request.input);
    const payload = {
      sequence: request.sequence,
      ...(request.version ? { version: request.version } : {}),
      input: request.input ?? null,
      ...(request.rerunOf ? { rerunOf: request.rerunOf } : {}),
      ...(request.reuse ? { reuse: reuseToWire(request.reuse) } : {}),
    };
    await this.#o.transport.publish([{ topic: this.#topics.events, key: runId, value: this.#message({ type: 'run.start', runId, payload }) }]);
    return runId;
  }

  /** Asks a run to cancel: the task in flight is cancelled, then compensations and finally tasks run. */
  async cancel(runId: string, reason = 'cancelled'): Promise<void> {
    await this.#o.transport.publish([{ topic: this.#topics.events, key: runId, value: this.#message({ type: 'run.cancel', runId, payload: { reason } }) }]);
  }

  /** Resolves with the run's final entry; rejects with the error if this orchestrator fails first. */
  waitFor(runId: string): Promise<FinalEntry> {
    const done = this.#finished.get(runId);
    if (done) return Promise.resolve(done);
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(runId) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(runId, list);
    });
  }

  /**
   * Stops driving runs for good, because what happens next could not be recorded (the store is full, read-only or
   * failing) or sent. Runs in memory are then ahead of their history, so applying anything more would lose it:
   * every later batch fails with the same error, and every waiter, now and later, is rejected with it. What was
   * recorded stays, and `resume` continues each run from there.
   */
  fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#timers.clear();
    for (const list of this.#waiters.values()) for (const w of list) w.reject(error);
    this.#waiters.clear();
    for (const listener of this.#failureListeners.splice(0)) listener(error);
  }

  /** Resolves with the error once this orchestrator has failed (see {@link Orchestrator.fail}); never otherwise. */
  whenFailed(): Promise<unknown> {
    if (this.#failure) return Promise.resolve(this.#failure.error);
    return new Promise((resolve) => this.#failureListeners.push(resolve));
  }

  /** Runs this orchestrator drives right now. */
  get activeRuns(): number {
    return this.#runs.size;
  }

  /**
   * Continues a run whose process died: rebuilds it from its history, marks the attempt in flight as
   * interrupted (it runs again as its next attempt), or the stopped attempt the run was waiting for as ended,
   * and re-arms pending timers at their original due times.
   */
  async resume(runId: string): Promise<void> {
    if (!(await this.#o.store.get(runId))) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
    const release = await this.#o.store.lock(runId, this.#owner);
    // Read the history again under the lock: another process may have driven the run to its end meanwhile.
    let run: LiveRun;
    try {
      const stored = (await this.#o.store.get(runId))!;
      if (stored.record.status !== 'running') {
        throw new LockstepError(ErrorCode.runNotResumable, `run ${runId} already ended: ${stored.record.status}`);
      }
      const { program } = this.#o.registry.resolve(stored.record.sequence, stored.record.version);
      run = replay(program, stored.history, stored.record.definitionHash);
      // The attempt that runs again must never overlap what the dead process left running.
      await this.#o.stopOrphans?.(runId);
    } catch (error) {
      release();
      throw error;
    }
    this.#runs.set(runId, run);
    this.#releases.set(runId, release);
    const now = this.#o.clock.now();
    // The attempt in flight, or the stopped one the run was waiting for, died with the process that ran it.
    const lost = run.snapshot.context.current ?? run.snapshot.context.stopping;
    const pending = newPending();
    const out: TopicMessage[] = [];
    const after: Array<() => void> = [];
    if (lost) {
      this.#apply(run, { type: 'TASK_INTERRUPTED', taskId: lost.taskId, attempt: lost.attempt }, now, pending, out, after);
    }
    for (const [timerId, dueAt] of run.timers) after.push(() => this.#timers.arm({ runId, timerId, dueAt }));
    await this.#persist(new Map([[runId, pending]]));
    for (const f of after) f();
    if (this.#o.onEntry) for (const e of pending.entries) this.#o.onEntry(e);
    if (out.length > 0) await this.#o.transport.publish(out);
  }

  /**
   * A copy of a run this orchestrator drives, as it stands: snapshot, pending timers and bookkeeping. Another
   * orchestrator can take the run on from there with {@link adopt}; `lockstep test` runs paths that share a
   * prefix from one copy of it.
   */
  liveRun(runId: string): LiveRun | undefined {
    const run = this.#runs.get(runId);
    return run && { ...run, timers: new Map(run.timers), completions: new Set(run.completions) };
  }

  /**
   * Takes a run on as it stands (a copy from {@link liveRun}): locks it and arms its timers at their due times.
   * The run must be recorded in this orchestrator's store. Nothing is dispatched: attempts in flight go on
   * where they run.
   */
  async adopt(run: LiveRun): Promise<void> {
    if (this.#runs.has(run.runId)) throw new LockstepError(ErrorCode.invalidUsage, `run ${run.runId} is already driven here`);
    const release = await this.#o.store.lock(run.runId, this.#owner);
    this.#runs.set(run.runId, run);
    this.#releases.set(run.runId, release);
    for (const [timerId, dueAt] of run.timers) this.#timers.arm({ runId: run.runId, timerId, dueAt });
  }

  async close(): Promise<void> {
    await this.#subscription?.close();
    this.#timers.clear();
    for (const release of this.#releases.values()) release();
    this.#releases.clear();
  }

  #message<T extends Envelope['type']>(body: { type: T; runId: string; taskId?: string; attempt?: number; causationId?: string; payload: unknown }): Envelope {
    return envelope(body, this.#o.clock.now());
  }

  async #handle(batch: readonly ConsumedMessage[]): Promise<TopicMessage[]> {
    if (this.#failure) throw this.#failure.error;
    const out: TopicMessage[] = [];
    const after: Array<() => void> = [];
    const pending = new Map<string, Pending>();
    const at = this.#o.clock.now();
    for (const message of batch) {
      const env = message.value;
      if (!env) {
        this.#deadLetter(out, message, `not a lockstep message: ${message.reason ?? 'unreadable'}`);
        continue;
      }
      if (env.type === 'run.start') {
        await this.#begin(env, at, pending, out, after, message);
        continue;
      }
      const event = toRunEvent(env);
      if (!event) {
        this.#deadLetter(out, message, `type: expected an event (run.start, run.cancel, task.succeeded, task.failed, timer.fired), got "${env.type}"`);
        continue;
      }
      const run = this.#runs.get(env.runId);
      if (!run) {
        if (this.#finished.has(env.runId)) this.stats.ignored.late++;
        else this.#deadLetter(out, message, `runId: unknown run "${env.runId}"`);
        continue;
      }
      const p = pendingFor(pending, env.runId);
      p.cause = env.id;
      this.#apply(run, boundedEvent(event), at, p, out, after);
    }
    const dropped = new Set<TopicMessage>();
    for (const [runId, p] of pending) {
      const run = this.#runs.get(runId);
      if (run && (p.create || p.entries.some((e) => e.type !== 'event.ignored'))) this.#fit(run, p, at, out, after, dropped);
    }
    // One subscription batch holds one partition's messages: its transaction may delete that partition's expired runs.
    if (this.#o.runStateTopic && batch.length > 0) this.#expire(batch[0]!.partition, at, out);
    await this.#persist(pending);
    for (const f of after) f();
    if (this.#o.onEntry) for (const p of pending.values()) for (const e of p.entries) this.#o.onEntry(e);
    return dropped.size > 0 ? out.filter((m) => !dropped.has(m)) : out;
  }

  /** Kafka mode: the run's records of this batch within their topics' limits, then its state record (see {@link fitRun}). */
  #fit(run: LiveRun, p: Pending, at: number, out: TopicMessage[], after: Array<() => void>, dropped: Set<TopicMessage>): void {
    fitRun(this.#guard, run, p, {
      fail: (taskId, attempt, message) =>
        this.#apply(run, { type: 'TASK_FAILED', taskId, attempt, error: { message, code: ErrorCode.recordTooLarge, retriable: false } }, at, p, out, after),
      stateRecord: () => (this.#o.runStateTopic ? this.#stateRecord(run, p, at) : undefined),
      write: (m) => out.push(m),
      drop: (m) => dropped.add(m),
    });
  }

  async #begin(
    env: Extract<Envelope, { type: 'run.start' }>, at: number, pending: Map<string, Pending>, out: TopicMessage[], after: Array<() => void>,
    message: ConsumedMessage,
  ): Promise<void> {
    const { runId, payload } = env;
    if (this.#runs.has(runId) || this.#finished.has(runId) || this.#expiry.has(runId) || pending.has(runId)) {
      this.stats.ignored.duplicate++;
      return;
    }
    let registered;
    try {
      registered = this.#o.registry.resolve(payload.sequence, payload.version);
      assertInputWithinLimits(registered.program.sequence, payload.input);
    } catch (error) {
      const field = error instanceof LockstepError && error.code === ErrorCode.unknownSequence ? 'payload.sequence' : 'payload.input';
      this.#deadLetter(out, message, `${field}: ${(error as Error).message}`);
      // Kafka mode: the run's state says why it never started, for clients waiting on it.
      if (this.#o.runStateTopic) {
        const state = rejectedRunState(env, (error as Error).message, at);
        this.#remember(runId, finalEntryOf(state)!, message.partition);
        this.#expiry.track(message.partition, runId, at);
        const record = { topic: this.#topics.runs, key: runId, value: state };
        const written = this.#guard.stateRecord(record, this.#guard.oversized(record, `run.state record of run ${runId}`));
        if (written) out.push(written);
      }
      return;
    }
    let release: () => void;
    try {
      release = await this.#o.store.lock(runId, this.#owner);
    } catch (error) {
      // Another process drives a run of this id: refused, like any run.start that cannot be applied.
      if (error instanceof LockstepError && error.code === ErrorCode.runLocked) {
        this.#deadLetter(out, message, error.message);
        return;
      }
      this.fail(error);
      throw error;
    }
    this.#releases.set(runId, release);
    const { program } = registered;
    const began = beginRun(program, { runId, input: payload.input, at, definitionHash: registered.hash, ...(payload.rerunOf ? { rerunOf: payload.rerunOf } : {}), ...(payload.reuse ? { reuse: reuseFromWire(payload.reuse) } : {}) });
    this.#runs.set(runId, began.run);
    if (this.#o.runStateTopic) this.#partitionOf.set(runId, message.partition);
    const p = pendingFor(pending, runId);
    p.cause = env.id;
    p.create = {
      runId, sequence: program.sequence.name, version: program.sequence.version, definition: registered.definition,
      definitionHash: registered.hash, ...(registered.source ? { source: registered.source } : {}), input: payload.input ?? null,
      status: 'running', createdAt: at, updatedAt: at, ...(payload.rerunOf ? { rerunOf: payload.rerunOf } : {}),
    };
    this.#record(began.run, began.entries, began.commands, p, out, after);
  }

  #apply(run: LiveRun, event: RunEvent, at: number, p: Pending, out: TopicMessage[], after: Array<() => void>): void {
    const result = advance(run, event, at);
    if (result.ignored) {
      this.stats.ignored[result.ignored]++;
      p.entries.push(...result.entries);
      return;
    }
    this.stats.applied++;
    this.#record(run, result.entries, result.commands, p, out, after);
  }

  #record(run: LiveRun, entries: readonly RunEntry[], commands: readonly Command[], p: Pending, out: TopicMessage[], after: Array<() => void>): void {
    p.entries.push(...entries);
    for (const e of entries) {
      if (e.type === 'task.started') p.update.currentTask = e.task;
      else if (isFinalEntry(e)) {
        p.update.status = e.outcome;
        if (e.reason) p.update.reason = e.reason;
        // The record names the task that failed the run, not the last finally task that ran.
        p.update.currentTask = e.outcome === 'succeeded' ? null : run.snapshot.context.error?.taskId ?? null;
        const final = e;
        after.push(() => this.#finish(run.runId, final));
      }
    }
    for (const c of commands) this.#execute(run, c, out, after, p);
  }

  #execute(run: LiveRun, c: Command, out: TopicMessage[], after: Array<() => void>, p: Pending): void {
    const runId = run.runId;
    switch (c.type) {
      case 'dispatch':
      case 'cancelTask': {
        const m = taskCommandMessage(run, c, { topics: this.#topics, defaultQueue: this.#o.defaultQueue ?? 'default', now: this.#o.clock.now(), ...(p.cause ? { cause: p.cause } : {}) });
        out.push(m);
        p.sent.push(m);
        break;
      }
      case 'startTimer':
        after.push(() => this.#timers.arm({ runId, timerId: c.timerId, dueAt: run.timers.get(c.timerId) ?? this.#o.clock.now() + c.delayMs }));
        break;
      case 'cancelTimer':
        after.push(() => this.#timers.disarm(runId, c.timerId));
        break;
      case 'finish':
        break;
    }
  }

  #finish(runId: string, entry: FinalEntry): void {
    const partition = this.#partitionOf.get(runId);
    if (partition !== undefined) this.#expiry.track(partition, runId, entry.at);
    this.#runs.delete(runId);
    this.#partitionOf.delete(runId);
    this.#guard.forget(runId);
    this.#timers.disarmRun(runId);
    this.#releases.get(runId)?.();
    this.#releases.delete(runId);
    this.#remember(runId, entry, partition);
    for (const { resolve } of this.#waiters.get(runId) ?? []) resolve(entry);
    this.#waiters.delete(runId);
  }

  /** Keeps a finished run's final entry (the latest 10,000), for waiters and to tell late events from unknown ones. */
  #remember(runId: string, entry: FinalEntry, partition: number | undefined): void {
    this.#finished.set(runId, entry);
    if (partition !== undefined) this.#finishedIn.set(runId, partition);
    if (this.#finished.size > 10_000) {
      const oldest = this.#finished.keys().next().value!;
      this.#finished.delete(oldest);
      this.#finishedIn.delete(oldest);
    }
  }

  /** Kafka mode: the run's new state, for the run-state topic (same transaction). */
  #stateRecord(run: LiveRun, p: Pending, at: number): TopicMessage & { readonly value: RunState } {
    const final = p.entries.find(isFinalEntry);
    const definitionHash = run.definitionHash;
    return { topic: this.#topics.runs, key: run.runId, value: runStateOf(run, { ...(definitionHash ? { definitionHash } : {}), ...(final ? { final } : {}) }, at) };
  }

  /**
   * Kafka mode: takes over the runs of newly assigned partitions from their last committed state. Returns where
   * that state stands in each events partition (from its offset record, if there is one).
   */
  async #restore(group: string, partitions: readonly number[]): Promise<Map<number, string>> {
    const { states, offsets, malformed } = latestStates(await this.#o.transport.readPartitions!(this.#topics.runs, partitions));
    const unrestored: Array<{ source: DeadLetterSource; reason: string }> = malformed.map((m) => ({ source: this.#storedSource(m.record), reason: m.reason }));
    const finished: Array<{ runId: string; partition: number; at: number }> = [];
    for (const { state, partition, offset } of states.values()) {
      const final = finalEntryOf(state);
      if (final) {
        finished.push({ runId: state.runId, partition, at: final.at });
        this.#remember(state.runId, final, partition);
        continue;
      }
      let run: LiveRun;
      try {
        run = restoreRun(this.#o.registry, state);
      } catch (error) {
        // A sequence this orchestrator does not know, a snapshot its machine cannot resolve: the run's events are
        // dead-lettered as unknown from now on.
        const record = { key: state.runId, value: JSON.stringify(state), partition, offset };
        unrestored.push({ source: this.#storedSource(record), reason: `run.state record of run ${state.runId} cannot be restored: ${(error as Error).message}` });
        continue;
      }
      // Its stored state lost its results: whatever it dispatches from here would miss them.
      if (state.reduced) this.#guard.markRestoredReduced(run.runId, state.reduced);
      this.#runs.set(run.runId, run);
      this.#partitionOf.set(run.runId, partition);
      for (const [timerId, dueAt] of run.timers) this.#timers.arm({ runId: run.runId, timerId, dueAt });
      this.stats.restored++;
    }
    this.#expiry.drop(partitions);
    for (const f of finished.sort((a, b) => a.at - b.at)) this.#expiry.track(f.partition, f.runId, f.at);
    await this.#unrestored(unrestored);
    return positionsOf(offsets, this.#topics.events, group, partitions);
  }

  /**
   * Kafka mode: records of the run-state topic that could not be restored are counted and dead-lettered with the
   * reason (outside any transaction: a takeover that reads them again dead-letters them again).
   */
  async #unrestored(failures: ReadonlyArray<{ source: DeadLetterSource; reason: string }>): Promise<void> {
    if (failures.length === 0) return;
    this.stats.restoreFailed += failures.length;
    const out: TopicMessage[] = [];
    for (const f of failures) this.#deadLetter(out, f.source, f.reason);
    await this.#o.transport.publish(out);
  }

  #storedSource(record: UnreadableRecord['record']): DeadLetterSource {
    return { topic: this.#topics.runs, partition: record.partition, offset: record.offset, key: record.key, raw: record.value ?? '' };
  }

  /** Kafka mode: tombstones for the partition's finished runs whose retention ran out, in the batch's transaction. */
  #expire(partition: number, now: number, out: TopicMessage[]): void {
    for (const runId of this.#expiry.due(partition, now, EXPIRE_PER_BATCH)) {
      if (this.#runs.has(runId)) continue; // its id was started again: that run's state stays
      out.push({ topic: this.#topics.runs, key: runId, value: null });
      this.#finished.delete(runId);
      this.#finishedIn.delete(runId);
      this.stats.expired++;
    }
  }

  /** Kafka mode: forgets the runs of partitions this orchestrator no longer owns (or must reload). */
  #revoke(partitions: readonly number[]): void {
    this.#expiry.drop(partitions);
    const gone = new Set(partitions);
    // Runs that finished in a batch that may not have committed: restored again from the topic if still ours.
    for (const [runId, partition] of this.#finishedIn) {
      if (!gone.has(partition)) continue;
      this.#finished.delete(runId);
      this.#finishedIn.delete(runId);
    }
    for (const [runId, partition] of this.#partitionOf) {
      if (!gone.has(partition)) continue;
      this.#runs.delete(runId);
      this.#guard.forget(runId);
      this.#timers.disarmRun(runId);
      this.#releases.get(runId)?.();
      this.#releases.delete(runId);
      this.#partitionOf.delete(runId);
    }
  }

  /** Adds the dead letter of a message that could not be processed (bounded to fit its topic) and counts it. */
  #deadLetter(out: TopicMessage[], message: ConsumedMessage | DeadLetterSource, reason: string): void {
    const raw = message.raw ?? JSON.stringify((message as ConsumedMessage).value);
    const record = this.#guard.deadLetter({ topic: message.topic, partition: message.partition, offset: message.offset, key: message.key, raw }, reason, this.#o.clock.now());
    if (record) out.push(record);
  }

  /** Records a batch's history; a store that cannot record it ends this orchestrator (see {@link Orchestrator.fail}). */
  async #persist(pending: Map<string, Pending>): Promise<void> {
    try {
      await persistPending(this.#o.store, pending);
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }
}
