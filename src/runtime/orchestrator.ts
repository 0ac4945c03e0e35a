import { randomUUID } from 'node:crypto';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { Envelope, EnvelopeOf } from '../core/protocol/envelope.js';
import { topicNames } from '../core/protocol/envelope.js';
import { assertRunId } from '../core/protocol/partition-offset.js';
import type { FinalEntry } from '../core/protocol/run-entry.js';
import { assertInputWithinLimits } from '../core/run/data-limits.js';
import type { LiveRun } from '../core/run/live-run.js';
import { beginRun, findSpec, replay } from '../core/run/live-run.js';
import type { Signal } from '../core/run/signal.js';
import { InvalidSignalError, signalEvent, signalProblems } from '../core/run/signal.js';
import { acceptTraceparent } from '../core/trace/traceparent.js';
import type { Journal, RunHost } from '../ports/journal.js';
import type { SignalOutcome } from '../ports/run-service.js';
import type { Release } from '../ports/run-store.js';
import type { ConsumedMessage, DeadLetterSource, Subscription, TopicMessage } from '../ports/transport.js';
import { envelope, reuseFromWire, runStartMessage, toRunEvent } from './messages.js';
import type { OrchestratorOptions, OrchestratorStats, StartRequest } from './orchestrator-options.js';
import type { Work } from './pending-writes.js';
import { newWork, pendingFor, refusedFinal } from './pending-writes.js';
import { fitRun, RecordGuard } from './record-guard.js';
import { boundedEvent, TopicLimits } from './record-limits.js';
import { RunOutcomes } from './run-outcomes.js';
import { RunSteps } from './run-steps.js';
import { TimerService } from './timers.js';
import { traceEntries } from './trace-entries.js';
import { UnwrittenBatches } from './unwritten-batches.js';

export type { OrchestratorOptions, OrchestratorStats, StartRequest } from './orchestrator-options.js';

/**
 * Drives runs: consumes a batch of events, steps each run's machine, hands what changed to the journal, then
 * executes the commands (dispatches and cancels go out as messages, timers are armed). One batch of events from
 * many runs is recorded in one go. Where runs are kept, and what is restored when partitions are assigned, is
 * the journal's business: the loop is the same in every mode.
 */
export class Orchestrator {
  readonly stats: OrchestratorStats = {
    applied: 0,
    ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 },
    deadLettered: 0,
    restored: 0,
    restoreFailed: 0,
    expired: 0,
    oversized: 0,
    refused: 0,
  };
  readonly #options: OrchestratorOptions;
  readonly #journal: Journal;
  readonly #topics: ReturnType<typeof topicNames>;
  readonly #guard: RecordGuard;
  readonly #timers: TimerService;
  /** Steps the runs of a batch: their entries go to its pending writes, their commands to its work. */
  readonly #steps: RunSteps;
  readonly #runs = new Map<string, LiveRun>();
  readonly #releases = new Map<string, Release>();
  /** Final entries of finished runs, waiters, and why this orchestrator stopped, once it has (see {@link Orchestrator.fail}). */
  readonly #outcomes = new RunOutcomes();
  /** What the journal may do with the runs held here. */
  readonly #host: RunHost;
  #subscription: Subscription | undefined;
  /** Batches not written yet: a signal waits for the one that has stepped its run. */
  readonly #unwritten = new UnwrittenBatches();

  constructor(options: OrchestratorOptions) {
    this.#options = options;
    this.#journal = options.journal;
    this.#topics = topicNames(options.topicPrefix);
    this.#guard = new RecordGuard(this.stats, this.#topics.deadLetter, new TopicLimits(options.recordLimits));
    this.#timers = new TimerService(options.clock, (t) => {
      const message = this.#message({ type: 'timer.fired', runId: t.runId, payload: { timerId: t.timerId, dueAt: t.dueAt } });
      options.transport.publish([{ topic: this.#topics.events, key: t.runId, value: message }]).catch((error: unknown) => {
        // A transport that says retrying is pointless (closed) ends this orchestrator; others get another try.
        if (error instanceof LockstepError && !error.retriable) this.fail(error);
        else this.#timers.arm({ ...t, dueAt: options.clock.now() + 100 });
      });
    });
    this.#steps = new RunSteps({
      stats: this.stats,
      topics: this.#topics,
      clock: options.clock,
      defaultQueue: options.defaultQueue ?? 'default',
      traced: options.tracer !== undefined,
      timers: this.#timers,
      finish: (runId, entry) => this.#finish(runId, entry),
    });
    this.#host = {
      stats: this.stats,
      drive: (run) => {
        this.#runs.set(run.runId, run);
        for (const [timerId, dueAt] of run.timers) this.#timers.arm({ runId: run.runId, timerId, dueAt });
      },
      remember: (entry) => this.#outcomes.remember(entry),
      forget: (runIds) => {
        for (const runId of runIds) {
          this.#drop(runId);
          this.#outcomes.forget(runId);
        }
      },
      deadLetter: (source, reason) => this.#guard.deadLetter(source, reason, options.clock.now()),
      refused: (record, error) => this.#guard.refused(record, error),
    };
  }

  /** Starts consuming the events topic. */
  async start(): Promise<void> {
    const events = { topic: this.#topics.events, group: this.#options.group ?? 'lockstep-orchestrators' };
    this.#subscription = await this.#journal.subscribe(events, this.#host, (batch) => this.#handle(batch));
  }

  /** Asks for a new run; resolves to its id once the request is published. */
  async startRun(request: StartRequest): Promise<string> {
    const runId = request.runId ?? randomUUID();
    assertRunId(runId);
    assertInputWithinLimits(this.#options.registry.resolve(request.sequence, request.version).program.sequence, request.input);
    const traceparent = request.traceparent === undefined ? {} : { traceparent: acceptTraceparent(request.traceparent, 'traceparent') };
    const value = runStartMessage({ ...request, runId, ...traceparent }, this.#options.clock.now());
    await this.#options.transport.publish([{ topic: this.#topics.events, key: runId, value }]);
    return runId;
  }

  /** Asks a run to cancel: the task in flight is cancelled, then compensations and finally tasks run. */
  async cancel(runId: string, reason = 'cancelled'): Promise<void> {
    const value = this.#message({ type: 'run.cancel', runId, payload: { reason } });
    await this.#options.transport.publish([{ topic: this.#topics.events, key: runId, value }]);
  }

  /** Resolves with the run's final entry; rejects with the error if this orchestrator fails first. */
  waitFor(runId: string): Promise<FinalEntry> {
    return this.#outcomes.waitFor(runId);
  }

  /**
   * Stops driving runs for good, because what happens next could not be recorded (the store is full, read-only or
   * failing) or sent. Runs in memory are then ahead of their history, so applying anything more would lose it:
   * every later batch fails with the same error, and every waiter, now and later, is rejected with it. What was
   * recorded stays, and `resume` continues each run from there.
   */
  fail(error: unknown): void {
    if (this.#outcomes.failure) return;
    this.#timers.clear();
    this.#outcomes.fail(error);
  }

  /** Resolves with the error once this orchestrator has failed (see {@link Orchestrator.fail}); never otherwise. */
  whenFailed(): Promise<unknown> {
    return this.#outcomes.whenFailed();
  }

  /** Whether this orchestrator has failed (see {@link Orchestrator.fail}). */
  get failed(): boolean {
    return this.#outcomes.failure !== undefined;
  }

  /** Runs this orchestrator drives right now. */
  get activeRuns(): number {
    return this.#runs.size;
  }

  /** The ids of the runs this orchestrator drives right now. */
  drivenRuns(): string[] {
    return [...this.#runs.keys()];
  }

  /** Whether this orchestrator drives the run right now. */
  drives(runId: string): boolean {
    return this.#runs.has(runId);
  }

  /**
   * Applies a signal to a run this orchestrator drives, as a `task.signal` event would be: the waiting attempt
   * ends with its data, or fails for good with its rejection. Resolves once what it did is recorded: `applied`, or
   * `ignored` with the reason (a wait that has already ended: a duplicate, counted and recorded as ignored).
   *
   * @throws InvalidSignalError with every problem of the signal (nothing is recorded); LockstepError `UNKNOWN_RUN`
   * when the run is not driven here.
   */
  async signal(runId: string, signal: Signal): Promise<SignalOutcome> {
    const failure = this.#outcomes.failure;
    if (failure) throw failure.error;
    // A batch that has stepped the run writes first: what this step adds comes after it.
    await this.#unwritten.settled(runId);
    const run = this.#runs.get(runId);
    if (!run) throw new LockstepError(ErrorCode.unknownRun, `run ${runId} is not driven here`);
    const problems = signalProblems(run.program, signal);
    if (problems.length > 0) throw new InvalidSignalError(problems);
    const work = newWork(this.#options.clock.now());
    const p = pendingFor(work.runs, run);
    this.#steps.apply(run, boundedEvent(signalEvent(run.snapshot.context, signal)), work, p);
    const dropped = this.#fit(work);
    const first = p.entries[0]?.entry;
    const records = await this.#record(work, undefined);
    this.#settle(work);
    const out = [...(dropped.size > 0 ? work.out.filter((m) => !dropped.has(m)) : work.out), ...records];
    if (out.length > 0) await this.#options.transport.publish(out);
    return first?.type === 'event.ignored' ? { status: 'ignored', reason: first.reason } : { status: 'applied' };
  }

  /**
   * Continues a run whose process died: rebuilds it from its history, marks the attempt in flight as
   * interrupted (it runs again as its next attempt), or the stopped attempt the run was waiting for as ended,
   * and re-arms pending timers at their original due times.
   */
  async resume(runId: string): Promise<void> {
    if (!(await this.#journal.load(runId))) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
    const release = await this.#journal.claim(runId);
    // Read the history again under the lock: another process may have driven the run to its end meanwhile.
    let run: LiveRun;
    try {
      const stored = (await this.#journal.load(runId))!;
      if (stored.record.status !== 'running') {
        throw new LockstepError(ErrorCode.runNotResumable, `run ${runId} already ended: ${stored.record.status}`);
      }
      const { program } = this.#options.registry.resolve(stored.record.sequence, stored.record.version);
      run = replay(program, stored.history, stored.record.definitionHash);
      // The attempt that runs again must never overlap what the dead process left running.
      await this.#options.stopOrphans?.(runId);
    } catch (error) {
      release();
      throw error;
    }
    this.#runs.set(runId, run);
    this.#releases.set(runId, release);
    const work = newWork(this.#options.clock.now());
    // The attempt in flight, or the stopped one the run was waiting for, died with the process that ran it.
    // A wait runs nothing, so nothing of it died: it goes on waiting, its timers due when they were.
    const current = run.snapshot.context.current;
    const waiting = current !== null && findSpec(run.program, current.taskId)?.action.kind === 'wait';
    const lost = waiting ? run.snapshot.context.stopping : (current ?? run.snapshot.context.stopping);
    const p = pendingFor(work.runs, run);
    if (lost) this.#steps.apply(run, { type: 'TASK_INTERRUPTED', taskId: lost.taskId, attempt: lost.attempt }, work, p);
    for (const [timerId, dueAt] of run.timers) work.after.push(() => this.#timers.arm({ runId, timerId, dueAt }));
    const records = await this.#record(work, undefined);
    this.#settle(work);
    const out = [...work.out, ...records];
    if (out.length > 0) await this.#options.transport.publish(out);
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
   * Takes a run on as it stands (a copy from {@link liveRun}): claims it and arms its timers at their due times.
   * The run must be recorded in this orchestrator's journal. Nothing is dispatched: attempts in flight go on
   * where they run.
   */
  async adopt(run: LiveRun): Promise<void> {
    if (this.#runs.has(run.runId)) throw new LockstepError(ErrorCode.invalidUsage, `run ${run.runId} is already driven here`);
    const release = await this.#journal.claim(run.runId);
    this.#releases.set(run.runId, release);
    this.#host.drive(run);
  }

  async close(): Promise<void> {
    await this.#subscription?.close();
    this.#timers.clear();
    for (const release of this.#releases.values()) release();
    this.#releases.clear();
  }

  #message<T extends Envelope['type']>(body: { type: T; runId: string; payload: unknown }): Envelope {
    return envelope(body, this.#options.clock.now());
  }

  /** One batch: step every message's run, fit what it produced, record it, then let the commands go out. */
  async #handle(batch: readonly ConsumedMessage[]): Promise<TopicMessage[]> {
    const work = newWork(this.#options.clock.now());
    return this.#unwritten.track(work, () => this.#handleBatch(batch, work));
  }

  async #handleBatch(batch: readonly ConsumedMessage[], work: Work): Promise<TopicMessage[]> {
    const failure = this.#outcomes.failure;
    if (failure) throw failure.error;
    for (const message of batch) {
      const env = message.value;
      if (!env) {
        this.#deadLetter(work, message, `not a lockstep message: ${message.reason ?? 'unreadable'}`);
        continue;
      }
      if (env.type === 'run.start') {
        await this.#begin(env, work, message);
        continue;
      }
      const event = toRunEvent(env);
      if (!event && env.type !== 'task.signal') {
        this.#deadLetter(
          work,
          message,
          `type: expected an event (run.start, run.cancel, task.succeeded, task.failed, task.signal, timer.fired), got "${env.type}"`,
        );
        continue;
      }
      const run = this.#runs.get(env.runId);
      if (!run) {
        if (this.#outcomes.has(env.runId)) this.stats.ignored.late++;
        else this.#deadLetter(work, message, `runId: unknown run "${env.runId}"`);
        continue;
      }
      let applied = event;
      if (env.type === 'task.signal') {
        const signal = { taskId: env.taskId, ...env.payload };
        // A signal with problems is refused whole, as the CLI and the API refuse it: nothing reaches the run.
        const problems = signalProblems(run.program, signal);
        if (problems.length > 0) {
          this.#deadLetter(work, message, problems.map((q) => `payload.${q.path}: ${q.message}`).join('; '));
          continue;
        }
        applied = signalEvent(run.snapshot.context, signal);
      }
      const p = pendingFor(work.runs, run);
      p.cause = env.id;
      this.#steps.apply(run, boundedEvent(applied!), work, p);
    }
    const dropped = this.#fit(work);
    const records = await this.#record(work, batch[0]?.partition);
    this.#settle(work);
    const out = dropped.size > 0 ? work.out.filter((m) => !dropped.has(m)) : work.out;
    return records.length > 0 ? [...out, ...records] : out;
  }

  /** Fits what each run of a batch produced to what the journal and topics take; returns the messages dropped. */
  #fit(work: Work): Set<TopicMessage> {
    const dropped = new Set<TopicMessage>();
    for (const p of work.runs.values()) {
      fitRun(this.#guard, this.#journal, p.run, p, {
        fail: (taskId, attempt, message) =>
          this.#steps.apply(
            p.run,
            { type: 'TASK_FAILED', taskId, attempt, error: { message, code: ErrorCode.recordTooLarge, retriable: false } },
            work,
            p,
          ),
        drop: (m) => dropped.add(m),
      });
    }
    return dropped;
  }

  async #begin(env: EnvelopeOf<'run.start'>, work: Work, message: ConsumedMessage): Promise<void> {
    const { runId, payload } = env;
    if (this.#runs.has(runId) || this.#outcomes.has(runId) || this.#journal.remembers(runId) || work.runs.has(runId)) {
      this.stats.ignored.duplicate++;
      return;
    }
    let registered;
    try {
      registered = this.#options.registry.resolve(payload.sequence, payload.version);
      assertInputWithinLimits(registered.program.sequence, payload.input);
    } catch (error) {
      const field = error instanceof LockstepError && error.code === ErrorCode.unknownSequence ? 'payload.sequence' : 'payload.input';
      const reason = (error as Error).message;
      this.#deadLetter(work, message, `${field}: ${reason}`);
      // The run failed at once: waiters learn why, and the journal keeps it on record if it can.
      const final = refusedFinal(runId, reason, work.at);
      this.#outcomes.remember(final);
      work.refused.push({ start: env, reason, final });
      return;
    }
    let release: Release;
    try {
      release = await this.#journal.claim(runId);
    } catch (error) {
      // Another process drives a run of this id: refused, like any run.start that cannot be applied.
      if (error instanceof LockstepError && error.code === ErrorCode.runLocked) {
        this.#deadLetter(work, message, error.message);
        return;
      }
      this.fail(error);
      throw error;
    }
    this.#releases.set(runId, release);
    const { program } = registered;
    const at = work.at;
    const began = beginRun(program, {
      runId,
      input: payload.input,
      at,
      definitionHash: registered.hash,
      ...(payload.rerunOf ? { rerunOf: payload.rerunOf } : {}),
      ...(payload.reuse ? { reuse: reuseFromWire(payload.reuse) } : {}),
      ...(payload.traceparent ? { traceparent: payload.traceparent } : {}),
    });
    this.#runs.set(runId, began.run);
    const p = pendingFor(work.runs, began.run);
    p.cause = env.id;
    p.create = {
      runId,
      sequence: program.sequence.name,
      version: program.sequence.version,
      definition: registered.definition,
      definitionHash: registered.hash,
      ...(registered.source ? { source: registered.source } : {}),
      input: payload.input ?? null,
      status: 'running',
      createdAt: at,
      updatedAt: at,
      ...(payload.rerunOf ? { rerunOf: payload.rerunOf } : {}),
    };
    this.#steps.take(began.run, began.entries, began.states, began.commands, work, p);
  }

  /** Records a batch; a journal that cannot record it ends this orchestrator (see {@link Orchestrator.fail}). */
  async #record(work: Work, partition: number | undefined): Promise<readonly TopicMessage[]> {
    try {
      return await this.#journal.write({ at: work.at, partition, runs: work.runs, refused: work.refused });
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  /** Once a batch is recorded: arms its timers, finishes its runs and reports its entries. */
  #settle(work: Work): void {
    for (const f of work.after) f();
    const { onEntry, tracer } = this.#options;
    if (onEntry) for (const p of work.runs.values()) for (const e of p.entries) onEntry(e.entry, e.state, p.run.program.sequence.name);
    if (tracer) for (const p of work.runs.values()) traceEntries(tracer, p.run, p.entries);
  }

  #finish(runId: string, entry: FinalEntry): void {
    this.#drop(runId);
    this.#outcomes.ended(entry);
  }

  /** Stops driving a run here: its timers and its claim go. */
  #drop(runId: string): void {
    this.#runs.delete(runId);
    this.#timers.disarmRun(runId);
    this.#releases.get(runId)?.();
    this.#releases.delete(runId);
  }

  /** Adds the dead letter of a message that could not be processed (bounded to fit its topic) and counts it. */
  #deadLetter(work: Work, message: ConsumedMessage | DeadLetterSource, reason: string): void {
    const raw = message.raw ?? JSON.stringify((message as ConsumedMessage).value);
    const source = { topic: message.topic, partition: message.partition, offset: message.offset, key: message.key, raw };
    const record = this.#guard.deadLetter(source, reason, this.#options.clock.now());
    if (record) work.out.push(record);
  }
}
