import type { Command, Outcome, RunEvent, TaskError } from '../compile/types.js';
import { timerIds } from '../compile/types.js';
import type { StateValue } from '../graph/model.js';
import type { RunEntry } from '../protocol/run-entry.js';
import { isFinalEntry } from '../protocol/run-entry.js';
import { DEFAULT_LIMITS } from '../sequence/limits.js';
import type { Phase, TaskSpec } from '../sequence/types.js';
import type { IgnoredReason, Program, RunSnapshot } from '../step.js';
import { admitResult } from './data-limits.js';

/** A run held in memory by an orchestrator: its program, snapshot and pending timers. */
export interface LiveRun {
  readonly runId: string;
  readonly program: Program;
  /**
   * sha256 of the exact definition the run started with: the run goes on under it wherever it is restored, even
   * after the file changed under the same version. Unknown for runs recorded without one.
   */
  readonly definitionHash?: string;
  /** The W3C `traceparent` the run started with: the parent of its trace (see `core/trace`). */
  readonly traceparent?: string;
  snapshot: RunSnapshot;
  /** Pending timers: id -> due time in ms since the epoch. */
  readonly timers: Map<string, number>;
  readonly startedAt: number;
  /** When the attempt in flight was dispatched. */
  attemptStartedAt: number;
  /** Attempts (`task:attempt`) whose own completion was applied; tells a duplicate from a late report. */
  readonly completions: Set<string>;
}

/** What applying one event produced. */
export interface Advance {
  readonly entries: RunEntry[];
  readonly commands: readonly Command[];
  readonly ignored?: IgnoredReason;
  readonly finished?: Outcome;
}

/** Results of an earlier run to reuse (rerun --from): succeeded tasks with their results, and tasks that failed under continue. */
export interface Reuse {
  readonly succeeded: ReadonlyArray<{ readonly taskId: string; readonly result?: unknown }>;
  readonly continued?: readonly string[];
}

export interface BeginOptions {
  readonly runId: string;
  readonly input?: unknown;
  readonly at: number;
  readonly rerunOf?: string;
  readonly reuse?: Reuse;
  /** sha256 of the definition `program` was compiled from. */
  readonly definitionHash?: string;
  /** A valid W3C `traceparent`, in version 00 form: the parent of the run's trace. */
  readonly traceparent?: string;
}

const specIndex = new WeakMap<Program, Map<string, TaskSpec>>();

/** Finds a task spec by id, compensations and finally tasks included. */
export function findSpec(program: Program, taskId: string): TaskSpec | undefined {
  let index = specIndex.get(program);
  if (!index) {
    index = new Map();
    for (const t of [...program.sequence.tasks, ...program.sequence.finally]) {
      index.set(t.id, t);
      if (t.compensate) index.set(t.compensate.id, t.compensate);
    }
    specIndex.set(program, index);
  }
  return index.get(taskId);
}

function trackTimers(run: LiveRun, commands: readonly Command[], at: number): void {
  for (const c of commands) {
    if (c.type === 'startTimer') run.timers.set(c.timerId, c.atMs ?? at + c.delayMs);
    else if (c.type === 'cancelTimer') run.timers.delete(c.timerId);
  }
}

function commandEntries(run: LiveRun, commands: readonly Command[], at: number): { entries: RunEntry[]; finished?: Outcome } {
  const entries: RunEntry[] = [];
  let finished: Outcome | undefined;
  for (const c of commands) {
    if (c.type === 'dispatch') {
      run.attemptStartedAt = at;
      entries.push({
        type: 'task.started',
        runId: run.runId,
        at,
        task: c.taskId,
        attempt: c.attempt,
        phase: c.phase,
        idempotencyKey: c.idempotencyKey,
      });
    } else if (c.type === 'wait') {
      run.attemptStartedAt = at;
      const base = { runId: run.runId, at, task: c.taskId, attempt: c.attempt, phase: c.phase };
      const until = c.timerId === undefined ? undefined : run.timers.get(c.timerId);
      entries.push(
        { type: 'task.started', ...base, idempotencyKey: c.idempotencyKey },
        { type: 'task.waiting', ...base, for: c.for, ...(until === undefined ? {} : { until }) },
      );
    } else if (c.type === 'finish') {
      finished = c.outcome;
      const ctx = run.snapshot.context;
      const failedTasks = [
        ...ctx.continued,
        ...(ctx.error ? [ctx.error.taskId] : []),
        ...ctx.finallyFailed.filter((t) => t !== ctx.error?.taskId),
      ];
      entries.push({
        type: `run.${c.outcome}`,
        runId: run.runId,
        at,
        outcome: c.outcome,
        durationMs: at - run.startedAt,
        failedTasks,
        ...(c.reason ? { reason: c.reason } : {}),
      });
    }
  }
  return finished ? { entries, finished } : { entries };
}

/** The entry of a stopped attempt's end, when `event` is what ended it. */
function stoppedEntry(run: LiveRun, before: RunSnapshot, event: RunEvent, at: number): RunEntry | undefined {
  const stopping = before.context.stopping;
  if (!stopping) return undefined;
  const { taskId: task, attempt, phase } = stopping;
  const base = { type: 'task.stopped' as const, runId: run.runId, at, task, attempt, phase, durationMs: at - run.attemptStartedAt, event };
  if (event.type === 'TIMER_FIRED') return event.timerId === timerIds.stop(task, attempt) ? { ...base, how: 'grace-expired' } : undefined;
  if (event.type === 'CANCEL' || event.taskId !== task || event.attempt !== attempt) return undefined;
  if (event.type === 'TASK_INTERRUPTED') return { ...base, how: 'interrupted' };
  if (event.type === 'TASK_FAILED') return { ...base, how: 'reported', error: event.error };
  return { ...base, how: 'reported', ...(event.result === undefined ? {} : { result: event.result }) };
}

function eventEntry(run: LiveRun, before: RunSnapshot, event: RunEvent, commands: readonly Command[], at: number): RunEntry {
  const stopped = stoppedEntry(run, before, event, at);
  if (stopped) return stopped;
  const runId = run.runId;
  const phase: Phase = before.context.current?.phase ?? 'main';
  const durationMs = at - run.attemptStartedAt;
  const retryTimer = commands.find((c) => c.type === 'startTimer' && c.timerId.startsWith('retry:'));
  const retry = retryTimer && retryTimer.type === 'startTimer' ? { willRetry: true, retryInMs: retryTimer.delayMs } : { willRetry: false };
  switch (event.type) {
    case 'TASK_SUCCEEDED':
      return {
        type: 'task.succeeded',
        runId,
        at,
        task: event.taskId,
        attempt: event.attempt,
        phase,
        durationMs,
        event,
        ...(event.result === undefined ? {} : { result: event.result }),
      };
    case 'TASK_FAILED':
      return {
        type: 'task.failed',
        runId,
        at,
        task: event.taskId,
        attempt: event.attempt,
        phase,
        durationMs,
        error: event.error,
        ...retry,
        event,
      };
    case 'TASK_INTERRUPTED':
      return { type: 'task.interrupted', runId, at, task: event.taskId, attempt: event.attempt, phase, event };
    case 'CANCEL':
      return { type: 'run.cancelling', runId, at, reason: event.reason ?? 'cancelled', event };
    case 'TIMER_FIRED': {
      if (event.timerId === timerIds.run) return { type: 'run.timed-out', runId, at, event };
      const current = before.context.current;
      // A delay came due: the wait task succeeded.
      if (event.timerId.startsWith('wait:') && current) {
        return { type: 'task.succeeded', runId, at, task: current.taskId, attempt: current.attempt, phase, durationMs, event };
      }
      if (event.timerId.startsWith('timeout:') && current) {
        const spec = findSpec(run.program, current.taskId);
        const timeoutMs = spec?.timeoutMs ?? 0;
        const message = spec?.action.kind === 'wait' ? `no signal within ${timeoutMs}ms` : `timed out after ${timeoutMs}ms`;
        const error: TaskError = { message, code: 'TASK_TIMEOUT', retriable: true };
        return {
          type: 'task.failed',
          runId,
          at,
          task: current.taskId,
          attempt: current.attempt,
          phase,
          durationMs,
          error,
          ...retry,
          event,
        };
      }
      return { type: 'timer.fired', runId, at, timerId: event.timerId, event };
    }
  }
}

// Applied reports: an attempt's completion, or the report of an attempt the run had stopped.
function noteCompletion(run: LiveRun, event: RunEvent): void {
  if (event.type === 'TASK_SUCCEEDED' || event.type === 'TASK_FAILED') run.completions.add(`${event.taskId}:${event.attempt}`);
}

// The machine sees a report for an attempt that is no longer in flight. If that attempt's own report was applied,
// this is a duplicate; otherwise the attempt ended another way (its stop grace ran out, a restart interrupted
// it) and the report is late.
function refine(run: LiveRun, event: RunEvent, reason: IgnoredReason): IgnoredReason {
  if (reason !== 'duplicate' || (event.type !== 'TASK_SUCCEEDED' && event.type !== 'TASK_FAILED')) return reason;
  return run.completions.has(`${event.taskId}:${event.attempt}`) ? 'duplicate' : 'late';
}

/** Applies one event to a live run: the next snapshot, the history entries to record and the commands to execute. */
export function advance(run: LiveRun, received: RunEvent, at: number): Advance {
  const limits =
    received.type === 'TASK_SUCCEEDED' && received.result !== undefined
      ? (findSpec(run.program, received.taskId)?.limits ?? DEFAULT_LIMITS)
      : DEFAULT_LIMITS;
  const event = admitResult(run, run.snapshot.context, received, limits);
  const before = run.snapshot;
  const result = run.program.step(before, event);
  if (result.ignored) {
    const reason = refine(run, event, result.ignored);
    return { entries: [{ type: 'event.ignored', runId: run.runId, at, reason, event }], commands: [], ignored: reason };
  }
  run.snapshot = result.snapshot;
  noteCompletion(run, event);
  if (event.type === 'TIMER_FIRED') run.timers.delete(event.timerId);
  trackTimers(run, result.commands, at);
  const first = eventEntry(run, before, event, result.commands, at);
  const rest = commandEntries(run, result.commands, at);
  return { entries: [first, ...rest.entries], commands: result.commands, ...(rest.finished ? { finished: rest.finished } : {}) };
}

/**
 * Starts a run: the live run, its first entries and commands, and the run's state value right after each entry
 * (`states`). With `reuse`, earlier results stand in for the first tasks.
 */
export function beginRun(program: Program, options: BeginOptions): { run: LiveRun; states: StateValue[] } & Advance {
  const { runId, at } = options;
  const started = program.start({ runId, input: options.input });
  const run: LiveRun = {
    runId,
    program,
    ...(options.definitionHash ? { definitionHash: options.definitionHash } : {}),
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
    snapshot: started.snapshot,
    timers: new Map(),
    startedAt: at,
    attemptStartedAt: at,
    completions: new Set(),
  };
  const reused = [...(options.reuse?.succeeded.map((s) => s.taskId) ?? []), ...(options.reuse?.continued ?? [])];
  const entries: RunEntry[] = [
    {
      type: 'run.started',
      runId,
      at,
      sequence: program.sequence.name,
      version: program.sequence.version,
      input: options.input ?? null,
      ...(options.rerunOf ? { rerunOf: options.rerunOf } : {}),
      ...(reused.length > 0 ? { reused } : {}),
      ...(options.traceparent ? { traceparent: options.traceparent } : {}),
    },
  ];
  const states: StateValue[] = [stateValueOf(run)];
  trackTimers(run, started.commands, at);
  const produced: RunEntry[] = commandEntries(run, started.commands, at).entries;
  const producedStates: StateValue[] = produced.map(() => stateValueOf(run));
  let commands = started.commands;
  let finished: Outcome | undefined;
  for (const spec of program.sequence.tasks) {
    const success = options.reuse?.succeeded.find((s) => s.taskId === spec.id);
    const continued = options.reuse?.continued?.includes(spec.id);
    if (!success && !continued) break;
    const event: RunEvent = success
      ? { type: 'TASK_SUCCEEDED', taskId: spec.id, attempt: 1, ...(success.result === undefined ? {} : { result: success.result }) }
      : { type: 'TASK_FAILED', taskId: spec.id, attempt: 1, error: { message: 'failed in the earlier run (reused)', retriable: false } };
    const step = advance(run, event, at);
    produced.push(...step.entries);
    for (const _ of step.entries) producedStates.push(stateValueOf(run));
    commands = step.commands;
    finished = step.finished;
  }
  // Reused tasks were never dispatched in this run: drop their task.started entries.
  const reusedSet = new Set(reused);
  produced.forEach((e, i) => {
    if (e.type === 'task.started' && reusedSet.has(e.task)) return;
    entries.push(e);
    states.push(producedStates[i]!);
  });
  return { run, states, entries, commands, ...(finished ? { finished } : {}) };
}

/** The run's state value as it stands (its snapshot's `value`). */
export const stateValueOf = (run: LiveRun): StateValue => run.snapshot.value as StateValue;

/**
 * Rebuilds a live run from its recorded history (the entries that carry events), without executing anything.
 * Pending timers come back with their original due times.
 */
export function replay(program: Program, history: readonly RunEntry[], definitionHash?: string): LiveRun {
  const first = history[0];
  if (first?.type !== 'run.started') throw new Error('history does not begin with run.started');
  const started = program.start({ runId: first.runId, input: first.input });
  const run: LiveRun = {
    runId: first.runId,
    program,
    ...(definitionHash ? { definitionHash } : {}),
    ...(first.traceparent ? { traceparent: first.traceparent } : {}),
    snapshot: started.snapshot,
    timers: new Map(),
    startedAt: first.at,
    attemptStartedAt: first.at,
    completions: new Set(),
  };
  trackTimers(run, started.commands, first.at);
  const apply = (event: RunEvent, at: number) => {
    const result = program.step(run.snapshot, event);
    if (result.ignored) return;
    run.snapshot = result.snapshot;
    noteCompletion(run, event);
    if (event.type === 'TIMER_FIRED') run.timers.delete(event.timerId);
    trackTimers(run, result.commands, at);
  };
  for (const entry of history) {
    const stopping = run.snapshot.context.stopping;
    if (stopping && (entry.type === 'task.started' || isFinalEntry(entry))) {
      // Histories recorded before runs waited for stopped attempts went on at once (a dispatch, the run's end):
      // as far as the run knows, the stopped attempt ended there (its late report, if any, was ignored).
      apply({ type: 'TASK_INTERRUPTED', taskId: stopping.taskId, attempt: stopping.attempt }, entry.at);
    }
    if (entry.type === 'task.started') run.attemptStartedAt = entry.at;
    if (!('event' in entry) || entry.type === 'event.ignored') continue;
    apply(entry.event, entry.at);
  }
  return run;
}
