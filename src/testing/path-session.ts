import { indexTasks } from '../core/paths/expectation.js';
import type { ExecutionEvent, Violation } from '../core/paths/invariants.js';
import { Invariant } from '../core/paths/invariants.js';
import type { PathStep } from '../core/paths/path-graph.js';
import { PATH_RUN_ID, pathInput, SCRIPTED_FAILURE, SCRIPTED_REJECTION, StepToken, waitOf } from '../core/paths/run-model.js';
import { signalSample } from '../core/paths/signal-sample.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import { isFinalEntry } from '../core/protocol/run-entry.js';
import type { LiveRun } from '../core/run/live-run.js';
import type { Phase, Sequence } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import type { EmbeddedRuntime } from '../modes/embedded/index.js';
import { createEmbeddedRuntime } from '../modes/embedded/index.js';
import type { RunRecord } from '../ports/run-store.js';
import { envelope } from '../runtime/messages.js';
import { SimulatedClock } from '../runtime/simulated-clock.js';
import type { DispatchedTask, Executor } from '../runtime/worker.js';
import type { Executing } from './scripted-executor.js';
import { scriptedExecutor } from './scripted-executor.js';
import { ignoredProbeProblems, lateSignal, sum } from './signal-probes.js';

/**
 * Faults to plant in the runtime a path runs on: how lockstep's own tests prove that `lockstep test` catches
 * bugs. Each wraps the real part.
 */
export interface Faults {
  /** Wraps the compiled program the orchestrator steps. */
  readonly program?: (program: Program) => Program;
  /** Wraps the scripted task executor the worker calls. */
  readonly executor?: (execute: Executor) => Executor;
}

/** How a path is run: the options of `runPath`, and of each {@link PathSession} of a path. */
export interface RunPathOptions {
  /** What a succeeding attempt returns (its task result). @default undefined */
  readonly result?: (task: DispatchedTask) => unknown;
  /**
   * The data a signal wait is signalled with. @default the first of its schema's `examples`, else a value built from
   * the schema
   */
  readonly signal?: (taskId: string, attempt: number) => unknown;
  /** Inject duplicate and late events along the path and check that they change nothing. @default true */
  readonly inject?: boolean;
  /** Plants bugs in the runtime, for tests of lockstep itself: not for testing sequences. */
  readonly __unsafe_faults?: Faults;
}

/** Steps that are an attempt's own report: each is sent again as a duplicate when duplicates are injected. */
const REPORTS = new Set<StepToken>([StepToken.succeed, StepToken.fail, StepToken.stopped, StepToken.stoppedOk]);
const topics = topicNames();

/** Lets the runtime's message hops run until nothing moves. Every hop is a microtask, so a few turns suffice. */
async function quiesce(mark: () => string): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    await new Promise<void>((r) => setImmediate(r));
    const now = mark();
    if (now === last) return;
    last = now;
  }
}

/**
 * Where a run of a path stands between two steps, for paths that share the prefix to go on from there: the
 * orchestrator's copy of the run, the attempts executing, the simulated time and what was seen so far.
 */
export interface Checkpoint {
  readonly run: LiveRun;
  readonly record: RunRecord;
  readonly history: readonly RunEntry[];
  readonly now: number;
  readonly inFlight: ReadonlyArray<{ readonly task: DispatchedTask; readonly stopped: boolean; readonly reason: unknown }>;
  readonly entries: readonly RunEntry[];
  readonly executions: readonly ExecutionEvent[];
  readonly injected: readonly string[];
  readonly violations: readonly Violation[];
  readonly probedCancel: boolean;
  readonly last: PathStep | undefined;
}

/** What a session saw once closed: judged as it stood when the last step was taken. */
export interface SessionResult {
  readonly entries: readonly RunEntry[];
  readonly executions: readonly ExecutionEvent[];
  readonly started: ReadonlyArray<{ readonly task: string; readonly attempt: number; readonly phase: Phase }>;
  readonly injected: readonly string[];
  readonly violations: readonly Violation[];
  readonly abandoned: boolean;
}

/**
 * One run through the real embedded runtime (orchestrator, worker, timers, in-memory transport), with task
 * outcomes scripted step by step and time simulated. A session starts at the run's beginning, or from a
 * {@link Checkpoint} of another session: then a fresh runtime adopts the run as the checkpoint left it, and
 * the attempts that were executing are handed to its worker again.
 */
export class PathSession {
  readonly #sequence: Sequence;
  readonly #options: RunPathOptions;
  readonly #clock: SimulatedClock;
  readonly #entries: RunEntry[];
  readonly #executions: ExecutionEvent[];
  readonly #executing = new Map<string, Executing>();
  readonly #inherited = new Set<string>();
  readonly #violations: Violation[];
  readonly #injected: string[];
  /** Reports of stopped attempts that vanished at their stop grace, held back until after the step. */
  readonly #held: Array<() => void> = [];
  #runtime!: EmbeddedRuntime;
  #ended = false;
  #probedCancel = false;
  #last: PathStep | undefined;
  #abandoned = false;
  #over = false;

  private constructor(sequence: Sequence, options: RunPathOptions, from: Checkpoint | undefined) {
    this.#sequence = sequence;
    this.#options = options;
    this.#clock = new SimulatedClock(from?.now ?? 0);
    this.#entries = [...(from?.entries ?? [])];
    this.#ended = this.#entries.some((e) => isFinalEntry(e));
    this.#executions = [...(from?.executions ?? [])];
    this.#violations = [...(from?.violations ?? [])];
    this.#injected = [...(from?.injected ?? [])];
    this.#probedCancel = from?.probedCancel ?? false;
    this.#last = from?.last;
  }

  /** Starts the run, or takes it on from a checkpoint. `definition` is the sequence's definition text and its hash, if known. */
  static async open(
    sequence: Sequence,
    options: RunPathOptions = {},
    from?: Checkpoint,
    definition?: { text: string; hash: string },
  ): Promise<PathSession> {
    const session = new PathSession(sequence, options, from);
    await session.#open(from, definition);
    return session;
  }

  async #open(from: Checkpoint | undefined, definition: { text: string; hash: string } | undefined): Promise<void> {
    const scripted = scriptedExecutor(this.#executions, this.#executing, this.#options.result, this.#inherited);
    const wrap = this.#options.__unsafe_faults?.executor;
    const planted = wrap ? wrap(scripted) : scripted;
    // Inherited attempts were handed to the (faulty) executor in the prefix already.
    const execute: Executor = (task, signal) =>
      this.#inherited.has(`${task.taskId}#${task.attempt}`) ? scripted(task, signal) : planted(task, signal);
    this.#runtime = await createEmbeddedRuntime({
      clock: this.#clock,
      execute,
      // Paths are simulated runs on a simulated clock: no trace of them goes to a collector.
      tracer: false,
      onEntry: (e) => {
        this.#entries.push(e);
        if (isFinalEntry(e)) this.#ended = true;
      },
    });
    const runtime = this.#runtime;
    runtime.register(this.#sequence, definition === undefined ? {} : { definition: definition.text, hash: definition.hash });
    // The fault-injection seam: the registry hands this entry to the orchestrator when the run starts. A branch
    // steps the program its prefix stepped.
    const registered = runtime.registry.resolve(this.#sequence.name, this.#sequence.version) as { program: Program };
    const plant = this.#options.__unsafe_faults?.program;
    if (from) registered.program = from.run.program;
    else if (plant) registered.program = plant(registered.program);
    if (!from) {
      const input = pathInput(this.#sequence);
      await runtime.start({
        sequence: this.#sequence.name,
        version: this.#sequence.version,
        runId: PATH_RUN_ID,
        ...(input === undefined ? {} : { input }),
      });
      await this.#settle();
      return;
    }
    await runtime.adopt(
      { ...from.run, timers: new Map(from.run.timers), completions: new Set(from.run.completions) },
      from.record,
      from.history,
    );
    for (const { task, stopped, reason } of from.inFlight) {
      this.#inherited.add(`${task.taskId}#${task.attempt}`);
      const topic = topics.commands(task.payload.queue);
      await runtime.transport.publish([{ topic, key: PATH_RUN_ID, value: task }]);
      if (stopped) {
        const cancel = envelope(
          { type: 'task.cancel', runId: PATH_RUN_ID, taskId: task.taskId, attempt: task.attempt, payload: { reason: String(reason) } },
          this.#clock.now(),
        );
        await runtime.transport.publish([{ topic, key: PATH_RUN_ID, value: cancel }]);
      }
    }
    await this.#settle();
    for (const { task, stopped } of from.inFlight) {
      const x = this.#executing.get(`${task.taskId}#${task.attempt}`);
      if (!x || x.stopped !== stopped)
        throw new Error(`the branch of ${sequence(this.#sequence)} did not take over ${task.taskId}#${task.attempt}`);
    }
  }

  /** True once no further step can be taken: the run ended, or the runtime left the path. */
  get over(): boolean {
    return this.#over || this.#ended;
  }

  #mark(): string {
    const stats = this.#runtime.orchestrator.stats;
    return `${this.#entries.length}/${this.#executions.length}/${stats.applied}/${sum(stats.ignored)}`;
  }

  #settle(): Promise<void> {
    return quiesce(() => this.#mark());
  }

  #publishCompletion(type: 'task.succeeded' | 'task.failed', taskId: string, attempt: number): Promise<void> {
    return this.#runtime.transport.publish([
      {
        topic: topics.events,
        key: PATH_RUN_ID,
        value: envelope(
          { type, runId: PATH_RUN_ID, taskId, attempt, payload: type === 'task.succeeded' ? {} : { error: SCRIPTED_FAILURE } },
          this.#clock.now(),
        ),
      },
    ]);
  }

  /** Signals a wait of the run through the events topic, as `lockstep signal` and a `task.signal` producer do. */
  #publishSignal(taskId: string, attempt: number, reject?: string): Promise<void> | string {
    let payload: { data?: unknown; reject?: string };
    if (reject !== undefined) payload = { reject };
    else {
      const own = this.#options.signal;
      const sample = own ? { data: own(taskId, attempt) } : signalSample(this.#program(), indexTasks(this.#sequence).spec(taskId)!);
      if ('problem' in sample) return sample.problem;
      payload = sample.data === undefined ? {} : { data: sample.data };
    }
    const value = envelope({ type: 'task.signal', runId: PATH_RUN_ID, taskId, payload }, this.#clock.now());
    return this.#runtime.transport.publish([{ topic: topics.events, key: PATH_RUN_ID, value }]);
  }

  #program(): Program {
    return (this.#runtime.registry.resolve(this.#sequence.name, this.#sequence.version) as { program: Program }).program;
  }

  /** A signal sent as a probe: one the schema accepts, so that only where the run stands can make it ignored. */
  async #signalProbe(what: string, taskId: string, attempt: number): Promise<void> {
    // No data the schema accepts: the signal step itself reports it.
    if (this.#options.signal === undefined && 'problem' in signalSample(this.#program(), indexTasks(this.#sequence).spec(taskId)!)) return;
    await this.#probe(what, async () => {
      await this.#publishSignal(taskId, attempt);
    });
  }

  /** Injects one event into a quiet runtime; it must be counted as ignored once and change nothing else. */
  async #probe(what: string, send: () => Promise<void>): Promise<void> {
    const stats = this.#runtime.orchestrator.stats;
    const entries = this.#entries;
    const executions = this.#executions;
    this.#injected.push(what);
    const before = { entries: entries.length, executions: executions.length, applied: stats.applied, ignored: sum(stats.ignored) };
    await send();
    await this.#settle();
    const problems = ignoredProbeProblems({ entries, executions, stats }, before);
    if (problems.length > 0)
      this.#violations.push({ invariant: Invariant.ignored, message: `${what} changed the run: ${problems.join('; ')}` });
  }

  /**
   * Fires the one timer a step names: the next one due. Timers due at the same moment (the run timeout and a stop
   * grace, say) are steps of their own in the path, with reports possibly in between, so they fire one by one.
   */
  #fireTimer(): string | undefined {
    // A timer due further off than one setTimeout takes (a wait until a date) is armed hop by hop: a hop re-arms
    // at once, so the clock's pending count stays; the timer itself leaves it.
    for (let hops = 0; hops < 100_000; hops++) {
      const before = this.#clock.pendingTimers;
      if (!this.#clock.fireOne()) return 'no timer was pending';
      if (this.#clock.pendingTimers < before) return undefined;
    }
    return 'a timer never came due';
  }

  #stoppedAttempt(step: PathStep): Executing | string {
    const key = `${step.taskId}#${step.attempt}`;
    const x = this.#executing.get(key);
    return x?.stopped
      ? x
      : `${key} is not a stopped attempt still executing (executing: ${[...this.#executing.keys()].join(', ') || 'nothing'})`;
  }

  async #perform(step: PathStep): Promise<string | undefined> {
    switch (step.token) {
      case StepToken.stopped:
      case StepToken.stoppedOk: {
        const x = this.#stoppedAttempt(step);
        if (typeof x === 'string') return x;
        if (step.token === StepToken.stoppedOk)
          x.succeed(); // it ignored its abort
        else x.report();
        return undefined;
      }
      case StepToken.grace: {
        const x = this.#stoppedAttempt(step);
        if (typeof x === 'string') return x;
        this.#held.push(x.vanish());
        return this.#fireTimer();
      }
      case StepToken.succeed:
      case StepToken.fail: {
        if (step.wait === 'signal') {
          const sent = this.#publishSignal(step.taskId!, step.attempt!, step.token === StepToken.fail ? SCRIPTED_REJECTION : undefined);
          if (typeof sent === 'string') return sent;
          await sent;
          return undefined;
        }
        const x = this.#executing.get(`${step.taskId}#${step.attempt}`);
        if (!x)
          return `${step.taskId}#${step.attempt} is not executing (executing: ${[...this.#executing.keys()].join(', ') || 'nothing'})`;
        if (step.token === StepToken.succeed) x.succeed();
        else x.fail();
        return undefined;
      }
      case StepToken.timeout:
      case StepToken.retry:
      case StepToken.runTimeout:
      case StepToken.due:
        return this.#fireTimer();
      case StepToken.cancel:
        await this.#runtime.orchestrator.cancel(PATH_RUN_ID, 'cancelled by the path');
        return undefined;
    }
  }

  /** Takes step `i` (0-based) of the path, with the duplicate and late events injected around it. */
  async step(i: number, step: PathStep): Promise<void> {
    if (this.#over) return;
    if (this.#ended) {
      this.#over = true;
      return;
    }
    const inject = this.#options.inject !== false;
    if (inject && i === 0) await this.#earlySignals();
    if (inject && !this.#probedCancel && step.phase !== undefined && step.phase !== 'main') {
      this.#probedCancel = true;
      await this.#probe(`a cancel during the ${step.phase} phase (before step ${i + 1})`, () =>
        this.#runtime.orchestrator.cancel(PATH_RUN_ID, 'late cancel'),
      );
    }
    const problem = await this.#perform(step);
    if (problem) {
      this.#violations.push({ invariant: Invariant.followsPath, message: `step ${i + 1} (${step.label}): ${problem}` });
      this.#abandoned = this.#over = true;
      return;
    }
    await this.#settle();
    this.#last = step;
    if (!inject) {
      for (const release of this.#held.splice(0)) release();
      await this.#settle();
      return;
    }
    const late = lateSignal(step, this.#sequence);
    if (late) await this.#signalProbe(`${late.what} (step ${i + 1})`, late.taskId, late.attempt);
    else if (REPORTS.has(step.token)) {
      const type = step.token === StepToken.succeed || step.token === StepToken.stoppedOk ? 'task.succeeded' : 'task.failed';
      await this.#probe(`a duplicate of step ${i + 1} (${step.label})`, () => this.#publishCompletion(type, step.taskId!, step.attempt!));
    } else if (step.token === StepToken.grace) {
      // The stopped attempt reports after all, once the run has gone on without it.
      await this.#probe(`a late report of ${step.taskId}#${step.attempt} after its stop grace (step ${i + 1})`, async () =>
        this.#held.shift()?.(),
      );
    }
  }

  /** Before the first step: a signal for each signal wait the run has not reached yet, which it must ignore. */
  async #earlySignals(): Promise<void> {
    const started = new Set(this.#entries.flatMap((e) => (e.type === 'task.started' ? [e.task] : [])));
    for (const t of [...this.#sequence.tasks, ...this.#sequence.finally]) {
      if (waitOf(t)?.for !== 'signal' || started.has(t.id)) continue;
      await this.#signalProbe(`a signal for ${t.id} before the run reaches it`, t.id, 1);
    }
  }

  /** Where the run stands now, for another session to go on from. Only between steps of a run still going. */
  async checkpoint(): Promise<Checkpoint> {
    const run = this.#runtime.orchestrator.liveRun(PATH_RUN_ID);
    const stored = await this.#runtime.store.get(PATH_RUN_ID);
    if (!run || !stored || this.#held.length > 0) throw new Error(`the run of ${sequence(this.#sequence)} cannot be branched here`);
    return {
      run,
      record: stored.record,
      history: stored.history,
      now: this.#clock.now(),
      inFlight: [...this.#executing.values()].map((x) => ({ task: x.task, stopped: x.stopped, reason: x.reason })),
      entries: [...this.#entries],
      executions: [...this.#executions],
      injected: [...this.#injected],
      violations: [...this.#violations],
      probedCancel: this.#probedCancel,
      last: this.#last,
    };
  }

  /** Injects the last duplicate (after the run's end), closes the runtime and returns what was seen. */
  async close(): Promise<SessionResult> {
    let judged: { entries: RunEntry[]; executions: ExecutionEvent[] } = { entries: this.#entries, executions: this.#executions };
    try {
      const last = this.#last;
      if (this.#options.inject !== false && this.#ended && last?.wait === 'signal' && last.token === StepToken.succeed) {
        await this.#signalProbe(`a duplicate signal for ${last.taskId} after the run ended`, last.taskId!, last.attempt!);
      } else if (this.#options.inject !== false && this.#ended && last?.taskId && REPORTS.has(last.token)) {
        await this.#probe(`a duplicate of the last step (${last.label}) after the run ended`, () =>
          this.#publishCompletion('task.succeeded', last.taskId!, last.attempt!),
        );
      }
    } finally {
      // What the run did is judged as it stands now: attempts still executing (a path given up halfway) are ended
      // only so that the runtime can close.
      judged = { entries: [...this.#entries], executions: [...this.#executions] };
      for (const release of this.#held.splice(0)) release();
      for (const x of [...this.#executing.values()]) x.report();
      await this.#runtime.close();
    }
    const started = judged.entries.flatMap((e) =>
      e.type === 'task.started' ? [{ task: e.task, attempt: e.attempt, phase: e.phase }] : [],
    );
    return { ...judged, started, injected: [...this.#injected], violations: [...this.#violations], abandoned: this.#abandoned };
  }
}

const sequence = (s: Sequence) => `${s.name} v${s.version}`;
