import type { RunContext, RunEvent } from '../core/compile/types.js';
import { idempotencyKey, timerIds } from '../core/compile/types.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { RunState } from '../core/protocol/run-state.js';
import type { Phase } from '../core/sequence/types.js';
import type { RunRecord } from '../ports/run-store.js';

/** What a record without a whole context (a run refused at start, a state stored reduced) stands for. */
const EMPTY_CONTEXT = {
  input: null, current: null, stopping: null, attempts: {}, failures: {}, completed: [], continued: [], results: {},
  outcome: null, reason: null, error: null, compensated: [], compensationFailed: [], finallyFailed: [],
};

/** The context of a run-state record, typed; the fields a partial record lacks are empty. */
export const contextOf = (state: RunState): RunContext => ({ ...EMPTY_CONTEXT, ...state.snapshot.context }) as unknown as RunContext;

/** A run's record as the API lists it, from its latest run-state record (its definition is not on the topic). */
export function recordOfState(state: RunState): RunRecord {
  const context = contextOf(state);
  return {
    runId: state.runId, sequence: state.sequence, version: state.version, definition: '', definitionHash: state.definitionHash ?? '',
    input: context.input ?? null, status: state.status, createdAt: state.createdAt, updatedAt: state.updatedAt,
    ...(state.currentTask ? { currentTask: state.currentTask } : {}),
    ...(state.final?.reason ? { reason: state.final.reason } : context.reason ? { reason: context.reason } : {}),
  };
}

const phaseOf = (taskId: string, finallyIds: ReadonlySet<string>): Phase =>
  taskId.endsWith('.compensate') ? 'compensate' : finallyIds.has(taskId) ? 'finally' : 'main';

const added = (before: readonly string[] | undefined, after: readonly string[]) => after.filter((t) => !(before ?? []).includes(t));

// Entries derived from states carry no machine event (they are never replayed); this one fills the field.
const NO_EVENT: RunEvent = { type: 'TIMER_FIRED', timerId: 'derived' };

/** Whether a task is waiting for its retry timer in a state value. */
function inBackoff(value: unknown, taskId: string): boolean {
  return JSON.stringify(value).includes(`"${taskId.replace(/\.compensate$/, '')}":"backoff"`);
}

/**
 * The history entries that explain the step from one run-state record to the next, for a view built from the
 * run-state topic: task starts, successes and failures, cancellation and the final outcome. They are derived, so
 * they carry no machine event and only the facts the states hold (durations are measured between records).
 */
export function entriesBetween(previous: RunState | undefined, next: RunState, finallyIds: ReadonlySet<string>): RunEntry[] {
  const entries: RunEntry[] = [];
  const runId = next.runId;
  const at = next.updatedAt;
  const ctx = contextOf(next);
  const before = previous ? contextOf(previous) : undefined;
  if (!before) {
    entries.push({ type: 'run.started', runId, at: next.createdAt, sequence: next.sequence, version: next.version, input: ctx.input ?? null });
  }
  const prevCurrent = before?.current;
  const stillCurrent = prevCurrent && ctx.current?.taskId === prevCurrent.taskId && ctx.current.attempt === prevCurrent.attempt;
  const durationMs = previous ? Math.max(0, at - previous.attemptStartedAt) : 0;
  const failedNow = new Set<string>();
  for (const [taskId, count] of Object.entries(ctx.failures)) {
    if (count > (before?.failures[taskId] ?? 0)) failedNow.add(taskId);
  }
  for (const taskId of failedNow) {
    const attempt = ctx.attempts[taskId] ?? 1;
    const error = ctx.error?.taskId === taskId ? { message: ctx.error.message, ...(ctx.error.code ? { code: ctx.error.code } : {}) } : { message: `attempt ${attempt} failed (run-state records keep the error only of the failure that ends a task)` };
    const retryTimer = `retry:${taskId}:${attempt}`;
    const willRetry = inBackoff(next.snapshot.value, taskId) || next.timers[retryTimer] !== undefined;
    entries.push({
      type: 'task.failed', runId, at, task: taskId, attempt, phase: phaseOf(taskId, finallyIds), durationMs, error, willRetry,
      ...(willRetry && next.timers[retryTimer] !== undefined ? { retryInMs: Math.max(0, next.timers[retryTimer]! - at) } : {}), event: NO_EVENT,
    });
  }
  const succeeded = [...added(before?.completed, ctx.completed), ...added(before?.compensated, ctx.compensated)];
  // A finally task leaves no trace in the context when it succeeds: it was current and is no more, without a failure.
  if (prevCurrent && !stillCurrent && prevCurrent.phase === 'finally' && !failedNow.has(prevCurrent.taskId)) succeeded.push(prevCurrent.taskId);
  // Seen for the first time with tasks done already: a rerun's reused tasks, or a run that began before the view.
  const firstSight = previous === undefined;
  for (const taskId of succeeded) {
    entries.push({
      type: 'task.succeeded', runId, at: firstSight ? next.createdAt : at, task: taskId, attempt: ctx.attempts[taskId] ?? 1,
      phase: phaseOf(taskId, finallyIds), durationMs: firstSight ? 0 : durationMs, ...(ctx.results[taskId] === undefined ? {} : { result: ctx.results[taskId] }),
      event: NO_EVENT,
    });
  }
  const stopped = before?.stopping;
  if (previous && stopped && !(ctx.stopping?.taskId === stopped.taskId && ctx.stopping.attempt === stopped.attempt)) {
    // The records do not say how it ended: a report before its stop timer was due, or the timer.
    const graceDue = previous.timers[timerIds.stop(stopped.taskId, stopped.attempt)];
    const how = graceDue !== undefined && at >= graceDue ? 'grace-expired' as const : 'reported' as const;
    entries.push({
      type: 'task.stopped', runId, at, task: stopped.taskId, attempt: stopped.attempt, phase: stopped.phase, durationMs, how, event: NO_EVENT,
    });
  }
  if (ctx.outcome === 'cancelled' && before?.outcome !== 'cancelled') {
    entries.push({ type: 'run.cancelling', runId, at, reason: ctx.reason ?? 'cancelled', event: NO_EVENT });
  }
  if (ctx.current && !stillCurrent) {
    const { taskId, attempt, phase } = ctx.current;
    entries.push({ type: 'task.started', runId, at: next.attemptStartedAt, task: taskId, attempt, phase, idempotencyKey: idempotencyKey(runId, taskId, attempt) });
  }
  if (next.final && !previous?.final) {
    const { outcome, reason, durationMs: total, failedTasks } = next.final;
    entries.push({ type: `run.${outcome}`, runId, at, outcome, durationMs: total, failedTasks, ...(reason ? { reason } : {}) });
  }
  return entries;
}
