import type { Outcome } from '../core/compile/types.js';
import { expectOutcome } from '../core/paths/expectation.js';
import type { Expectation } from '../core/paths/expectation.js';
import { checkRun, Invariant } from '../core/paths/invariants.js';
import type { ExecutionEvent, Violation } from '../core/paths/invariants.js';
import type { ModelPath, PathStep } from '../core/paths/path-graph.js';
import { PATH_RUN_ID, SCRIPTED_FAILURE, StepToken } from '../core/paths/run-model.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Phase, Sequence } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import { createEmbeddedRuntime } from '../embedded/embedded-runtime.js';
import type { EmbeddedRuntime } from '../embedded/embedded-runtime.js';
import { envelope } from '../runtime/messages.js';
import { SimulatedClock } from '../runtime/simulated-clock.js';
import type { DispatchedTask, Executor } from '../runtime/worker.js';

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

/** Options of {@link runPath}. */
export interface RunPathOptions {
  /** What a succeeding attempt returns (its task result). @default undefined */
  readonly result?: (task: DispatchedTask) => unknown;
  /** Inject duplicate and late events along the path and check that they change nothing. @default true */
  readonly inject?: boolean;
  /** Plants bugs in the runtime, for tests of lockstep itself: not for testing sequences. */
  readonly __unsafe_faults?: Faults;
}

/** One path run through the embedded runtime, and what the invariants found. */
export interface PathRun {
  readonly path: ModelPath;
  readonly expected: Expectation;
  /** How the run ended; `undefined` if it never did. */
  readonly outcome: Outcome | undefined;
  /** The run's history, as the orchestrator recorded it. */
  readonly entries: readonly RunEntry[];
  /** Every attempt the orchestrator started, in order. */
  readonly started: ReadonlyArray<{ readonly task: string; readonly attempt: number; readonly phase: Phase }>;
  /** What the task executor saw. */
  readonly executions: readonly ExecutionEvent[];
  /** The duplicate and late events injected, in words. */
  readonly injected: readonly string[];
  readonly violations: readonly Violation[];
  readonly passed: boolean;
  /** True when the runtime left the path and the run was given up before its end. */
  readonly abandoned: boolean;
}

interface Executing {
  readonly succeed: () => void;
  readonly fail: () => void;
  /** Set once the attempt is aborted (cancelled): it goes on until the path says how it ends. */
  stopped: boolean;
  /** The stopped attempt ends and reports its abort. */
  readonly report: () => void;
  /** The stopped attempt ends without a word, as on a dead worker; its report is held until `release` is called. */
  readonly vanish: () => () => void;
}

const FINAL = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);
/** Steps that are an attempt's own report: each is sent again as a duplicate when duplicates are injected. */
const REPORTS = new Set<StepToken>([StepToken.succeed, StepToken.fail, StepToken.stopped, StepToken.stoppedOk]);
const topics = topicNames();

/**
 * A scripted executor: each attempt waits until the path says how it ends. An aborted attempt goes on too, as a
 * process that traps SIGTERM would, until the path says it ended (its report) or that it never reports (its stop
 * grace runs out).
 */
function scriptedExecutor(executions: ExecutionEvent[], executing: Map<string, Executing>, result: RunPathOptions['result']): Executor {
  return (task, signal) => new Promise((resolve, reject) => {
    const x = { taskId: task.taskId, attempt: task.attempt, phase: task.payload.phase };
    const key = `${task.taskId}#${task.attempt}`;
    let done = false;
    const end = (): boolean => {
      if (done) return false;
      done = true;
      executing.delete(key);
      executions.push({ kind: 'end', ...x });
      return true;
    };
    const aborted = () => new Error(`aborted: ${String(signal.reason)}`);
    executions.push({ kind: 'start', ...x });
    const entry: Executing = {
      stopped: signal.aborted,
      succeed: () => end() && resolve(result?.(task)),
      fail: () => end() && reject(new Error(SCRIPTED_FAILURE.message)),
      report: () => end() && reject(aborted()),
      vanish: () => (end() ? () => reject(aborted()) : () => {}),
    };
    signal.addEventListener('abort', () => (entry.stopped = true), { once: true });
    executing.set(key, entry);
  });
}

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

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * Runs one path through the real embedded runtime: the orchestrator, worker, timers and in-memory transport,
 * with task outcomes scripted by the path and time simulated. Checks every invariant on the run.
 */
export async function runPath(sequence: Sequence, path: ModelPath, options: RunPathOptions = {}): Promise<PathRun> {
  const clock = new SimulatedClock(0);
  const entries: RunEntry[] = [];
  const executions: ExecutionEvent[] = [];
  const executing = new Map<string, Executing>();
  const scripted = scriptedExecutor(executions, executing, options.result);
  const runtime: EmbeddedRuntime = await createEmbeddedRuntime({
    clock, onEntry: (e) => entries.push(e), execute: options.__unsafe_faults?.executor ? options.__unsafe_faults.executor(scripted) : scripted,
  });
  runtime.register(sequence);
  const plant = options.__unsafe_faults?.program;
  if (plant) {
    // The fault-injection seam: the registry hands this entry to the orchestrator when the run starts.
    const registered = runtime.registry.resolve(sequence.name, sequence.version) as { program: Program };
    registered.program = plant(registered.program);
  }
  const stats = runtime.orchestrator.stats;
  const mark = () => `${entries.length}/${executions.length}/${stats.applied}/${sum(stats.ignored)}`;
  const settle = () => quiesce(mark);
  const ended = () => entries.some((e) => FINAL.has(e.type));
  const violations: Violation[] = [];
  const injected: string[] = [];
  const inject = options.inject !== false;
  let abandoned = false;
  let judged: { entries: RunEntry[]; executions: ExecutionEvent[] } = { entries, executions };

  const publishCompletion = (type: 'task.succeeded' | 'task.failed', taskId: string, attempt: number) =>
    runtime.transport.publish([{
      topic: topics.events, key: PATH_RUN_ID,
      value: envelope({ type, runId: PATH_RUN_ID, taskId, attempt, payload: type === 'task.succeeded' ? {} : { error: SCRIPTED_FAILURE } }, clock.now()),
    }]);

  // Injects one event into a quiet runtime; it must be counted as ignored once and change nothing else.
  const probe = async (what: string, send: () => Promise<void>) => {
    injected.push(what);
    const before = { entries: entries.length, executions: executions.length, applied: stats.applied, ignored: sum(stats.ignored) };
    await send();
    await settle();
    const problems: string[] = [];
    const added = entries.slice(before.entries).filter((e) => e.type !== 'event.ignored');
    if (added.length > 0) problems.push(`the orchestrator recorded ${added.map((e) => ('task' in e ? `${e.type} ${e.task}#${e.attempt}` : e.type)).join(', ')}`);
    if (stats.applied !== before.applied) problems.push(`${stats.applied - before.applied} event(s) were applied`);
    const started = executions.slice(before.executions).filter((x) => x.kind === 'start');
    if (started.length > 0) problems.push(`the executor started ${started.map((x) => `${x.taskId}#${x.attempt}`).join(', ')}`);
    const counted = sum(stats.ignored) - before.ignored;
    if (counted !== 1) problems.push(`it was counted as ignored ${counted} times instead of once`);
    if (problems.length > 0) violations.push({ invariant: Invariant.ignored, message: `${what} changed the run: ${problems.join('; ')}` });
  };

  const stoppedAttempt = (step: PathStep): Executing | string => {
    const key = `${step.taskId}#${step.attempt}`;
    const x = executing.get(key);
    return x?.stopped ? x : `${key} is not a stopped attempt still executing (executing: ${[...executing.keys()].join(', ') || 'nothing'})`;
  };
  // Reports of stopped attempts that vanished at their stop grace, held back until after the step.
  const held: Array<() => void> = [];

  const perform = async (step: PathStep): Promise<string | undefined> => {
    switch (step.token) {
      case StepToken.stopped:
      case StepToken.stoppedOk: {
        const x = stoppedAttempt(step);
        if (typeof x === 'string') return x;
        if (step.token === StepToken.stoppedOk) x.succeed(); // it ignored its abort
        else x.report();
        return undefined;
      }
      case StepToken.grace: {
        const x = stoppedAttempt(step);
        if (typeof x === 'string') return x;
        held.push(x.vanish());
        return clock.fireNext() ? undefined : 'no timer was pending';
      }
      case StepToken.succeed:
      case StepToken.fail: {
        const x = executing.get(`${step.taskId}#${step.attempt}`);
        if (!x) return `${step.taskId}#${step.attempt} is not executing (executing: ${[...executing.keys()].join(', ') || 'nothing'})`;
        if (step.token === StepToken.succeed) x.succeed();
        else x.fail();
        return undefined;
      }
      case StepToken.timeout:
      case StepToken.retry:
      case StepToken.runTimeout:
        return clock.fireNext() ? undefined : 'no timer was pending';
      case StepToken.cancel:
        await runtime.orchestrator.cancel(PATH_RUN_ID, 'cancelled by the path');
        return undefined;
    }
  };

  try {
    await runtime.start({ sequence: sequence.name, version: sequence.version, runId: PATH_RUN_ID });
    await settle();
    let probedCancel = false;
    let last: PathStep | undefined;
    for (const [i, step] of path.steps.entries()) {
      if (ended()) break;
      if (inject && !probedCancel && step.phase !== undefined && step.phase !== 'main') {
        probedCancel = true;
        await probe(`a cancel during the ${step.phase} phase (before step ${i + 1})`, () => runtime.orchestrator.cancel(PATH_RUN_ID, 'late cancel'));
      }
      const problem = await perform(step);
      if (problem) {
        violations.push({ invariant: Invariant.followsPath, message: `step ${i + 1} (${step.label}): ${problem}` });
        abandoned = true;
        break;
      }
      await settle();
      last = step;
      if (!inject) {
        for (const release of held.splice(0)) release();
        await settle();
        continue;
      }
      if (REPORTS.has(step.token)) {
        const type = step.token === StepToken.succeed || step.token === StepToken.stoppedOk ? 'task.succeeded' : 'task.failed';
        await probe(`a duplicate of step ${i + 1} (${step.label})`, () => publishCompletion(type, step.taskId!, step.attempt!));
      } else if (step.token === StepToken.grace) {
        // The stopped attempt reports after all, once the run has gone on without it.
        await probe(`a late report of ${step.taskId}#${step.attempt} after its stop grace (step ${i + 1})`, async () => held.shift()?.());
      }
    }
    if (inject && ended() && last?.taskId && REPORTS.has(last.token)) {
      await probe(`a duplicate of the last step (${last.label}) after the run ended`, () => publishCompletion('task.succeeded', last.taskId!, last.attempt!));
    }
  } finally {
    // What the run did is judged as it stands now: attempts still executing (a path given up halfway) are ended
    // only so that the runtime can close.
    judged = { entries: [...entries], executions: [...executions] };
    for (const release of held.splice(0)) release();
    for (const x of [...executing.values()]) x.report();
    await runtime.close();
  }

  const expected = expectOutcome(sequence, path.steps);
  for (const v of checkRun(sequence, path, expected, { ...judged, abandoned })) {
    if (v.invariant === Invariant.followsPath && abandoned) continue; // already reported, at the step that could not be taken
    violations.push(v);
  }
  const final = judged.entries.find((e) => FINAL.has(e.type)) as Extract<RunEntry, { outcome: Outcome }> | undefined;
  const started = judged.entries.flatMap((e) => (e.type === 'task.started' ? [{ task: e.task, attempt: e.attempt, phase: e.phase }] : []));
  return {
    path, expected, outcome: final?.outcome, entries: judged.entries, started, executions: judged.executions, injected, violations,
    passed: violations.length === 0, abandoned,
  };
}
