import { assign, setup } from 'xstate';
import type { Phase } from '../sequence/types.js';
import type { Outcome, RunContext, RunEvent, RunInput, TaskError } from './types.js';
import { idempotencyKey, STOP_GRACE_MS, timerIds } from './types.js';

type Args = { context: RunContext; event: RunEvent };

/** What a task's states are about: the task and its phase. */
export type TaskParams = { taskId: string; phase: Phase };

const isReport = (event: RunEvent): event is Extract<RunEvent, { taskId: string }> =>
  event.type === 'TASK_SUCCEEDED' || event.type === 'TASK_FAILED' || event.type === 'TASK_INTERRUPTED';

const matchesAttempt = (context: RunContext, event: RunEvent): boolean =>
  isReport(event) && context.current !== null && event.taskId === context.current.taskId && event.attempt === context.current.attempt;

// `stopping` is missing from contexts persisted before it existed: `undefined` reads as "nothing stopping".
const stoppedReport = (context: RunContext, event: RunEvent): boolean =>
  isReport(event) && !!context.stopping && event.taskId === context.stopping.taskId && event.attempt === context.stopping.attempt;

const stopTimerOf = (context: RunContext, event: RunEvent): boolean =>
  event.type === 'TIMER_FIRED' && !!context.stopping && event.timerId === timerIds.stop(context.stopping.taskId, context.stopping.attempt);

const isTimeoutOf = (context: RunContext, event: RunEvent, taskId: string): boolean =>
  event.type === 'TIMER_FIRED' &&
  context.current !== null &&
  context.current.taskId === taskId &&
  event.timerId === timerIds.timeout(taskId, context.current.attempt);

/** An attempt's failure: its report's error, or its timeout's, in the words its history records (a wait's: no signal). */
const failureOf = (event: RunEvent, timeoutMs: number | undefined, waits = false): TaskError =>
  event.type === 'TASK_FAILED'
    ? event.error
    : { message: `${waits ? 'no signal within' : 'timed out after'} ${timeoutMs ?? 0}ms`, code: 'TASK_TIMEOUT', retriable: true };

/** What `recordFailure` is told: the task, whether it is out of attempts, its policy and timeout, whether it waits. */
type FailureParams = TaskParams & { exhausted: boolean; onFailure: string; timeoutMs?: number; waits?: boolean };

const retryBudgetLeft = (context: RunContext, event: RunEvent, taskId: string, maxAttempts: number): boolean =>
  (context.failures[taskId] ?? 0) + 1 < maxAttempts && !(event.type === 'TASK_FAILED' && event.error.retriable === false);

/** The named guards and actions every compiled machine uses; commands are the no-op actions. */
export const runSetup = setup({
  types: {} as { context: RunContext; events: RunEvent; input: RunInput },
  guards: {
    isAttempt: ({ context, event }: Args) => matchesAttempt(context, event),
    canRetry: ({ context, event }: Args, p: { taskId: string; maxAttempts: number }) =>
      matchesAttempt(context, event) && retryBudgetLeft(context, event, p.taskId, p.maxAttempts),
    isTimeout: ({ context, event }: Args, p: { taskId: string }) => isTimeoutOf(context, event, p.taskId),
    timeoutCanRetry: ({ context, event }: Args, p: { taskId: string; maxAttempts: number }) =>
      isTimeoutOf(context, event, p.taskId) && retryBudgetLeft(context, event, p.taskId, p.maxAttempts),
    isWaitTimer: ({ context, event }: Args, p: { taskId: string }) =>
      event.type === 'TIMER_FIRED' && event.timerId === timerIds.wait(p.taskId, context.attempts[p.taskId] ?? 0),
    isRetryTimer: ({ context, event }: Args, p: { taskId: string }) =>
      event.type === 'TIMER_FIRED' && event.timerId === timerIds.retry(p.taskId, context.attempts[p.taskId] ?? 0),
    isRunTimeout: ({ event }: Args) => event.type === 'TIMER_FIRED' && event.timerId === timerIds.run,
    /** The stopped attempt's own report (success, failure or interruption). */
    isStoppedReport: ({ context, event }: Args) => stoppedReport(context, event),
    /** The stopped attempt's stop grace ran out. */
    isStopTimer: ({ context, event }: Args) => stopTimerOf(context, event),
    /** No stopped attempt is still being waited for. */
    notStopping: ({ context }: Args) => !context.stopping,
    wasCompleted: ({ context }: Args, p: { taskId: string }) => context.completed.includes(p.taskId),
    outcomeIs: ({ context }: Args, p: { outcome: Outcome }) =>
      (context.outcome === 'succeeded' && context.finallyFailed.length > 0 ? 'failed' : context.outcome) === p.outcome,
  },
  actions: {
    startAttempt: assign(({ context }: Args, p: TaskParams) => {
      const attempt = (context.attempts[p.taskId] ?? 0) + 1;
      return { attempts: { ...context.attempts, [p.taskId]: attempt }, current: { taskId: p.taskId, attempt, phase: p.phase } };
    }),
    recordSuccess: assign(({ context, event }: Args, p: TaskParams) => {
      const result = event.type === 'TASK_SUCCEEDED' ? event.result : undefined;
      return {
        current: null,
        results: result === undefined ? context.results : { ...context.results, [p.taskId]: result },
        ...(p.phase === 'main' ? { completed: [...context.completed, p.taskId] } : {}),
        ...(p.phase === 'compensate' ? { compensated: [...context.compensated, p.taskId] } : {}),
      };
    }),
    recordFailure: assign(({ context, event }: Args, p: FailureParams) => {
      const failures = { ...context.failures, [p.taskId]: (context.failures[p.taskId] ?? 0) + 1 };
      const base = { current: null, failures };
      if (!p.exhausted) return base;
      const error = failureOf(event, p.timeoutMs, p.waits);
      if (p.phase === 'compensate') return { ...base, compensationFailed: [...context.compensationFailed, p.taskId] };
      if (p.phase === 'finally') {
        return {
          ...base,
          finallyFailed: [...context.finallyFailed, p.taskId],
          ...(context.error ? {} : { error: { ...error, taskId: p.taskId } }),
        };
      }
      if (p.onFailure === 'continue') return { ...base, continued: [...context.continued, p.taskId] };
      return {
        ...base,
        outcome: 'failed' as const,
        reason: `task ${p.taskId} failed: ${error.message}`,
        error: { ...error, taskId: p.taskId },
      };
    }),
    markSucceeded: assign({ outcome: 'succeeded' as const }),
    markCancelled: assign(({ event }: Args) => ({
      outcome: 'cancelled' as const,
      reason: event.type === 'CANCEL' && event.reason ? event.reason : 'cancelled',
      current: null,
    })),
    markRunTimedOut: assign({ outcome: 'failed' as const, reason: 'run timed out', current: null }),
    /** The attempt in flight becomes the stopped attempt the run waits for. */
    markStopping: assign(({ context }: Args) => ({ stopping: context.current })),
    clearStopping: assign({ stopping: null }),
    dispatch: () => {},
    wait: () => {},
    cancelTask: () => {},
    startTimer: () => {},
    cancelTimer: () => {},
    finish: () => {},
  },
});

/** The results a dispatch carries: all of them, or with `needs` only those (the ones that exist). */
export function resultsFor(results: Readonly<Record<string, unknown>>, needs: readonly string[] | undefined): Record<string, unknown> {
  if (!needs) return results;
  const picked: Record<string, unknown> = {};
  for (const id of needs) if (Object.hasOwn(results, id)) picked[id] = results[id];
  return picked;
}

/** The attempt `startAttempt` just counted, as a dispatch or a wait names it. */
const attemptNamed = (context: RunContext, p: TaskParams) => {
  const attempt = context.attempts[p.taskId] ?? 1;
  return {
    runId: context.runId,
    taskId: p.taskId,
    attempt,
    phase: p.phase,
    idempotencyKey: idempotencyKey(context.runId, p.taskId, attempt),
  };
};

/** Dispatches the attempt `startAttempt` just counted, with the input and the results the task needs. */
export const dispatchCommand = (p: TaskParams, needs?: readonly string[]) => ({
  type: 'dispatch' as const,
  params: ({ context }: Args) => ({ ...attemptNamed(context, p), input: context.input, results: resultsFor(context.results, needs) }),
});

/** Starts or cancels a timer whose id (and delay, or due time) derive from the context. */
export const timerCommand = (
  type: 'startTimer' | 'cancelTimer',
  id: (c: RunContext) => string,
  delay?: (c: RunContext) => number,
  at?: (c: RunContext) => number,
) => ({
  type,
  params: ({ context }: Args) => ({
    runId: context.runId,
    timerId: id(context),
    ...(delay ? { delayMs: delay(context) } : {}),
    ...(at ? { atMs: at(context) } : {}),
  }),
});

/** Begins a wait task's attempt (`startAttempt` counted it): nothing runs; `timer` names what ends the wait. */
export const waitCommand = (p: TaskParams, waitFor: 'signal' | 'time', timer?: (c: RunContext) => string) => ({
  type: 'wait' as const,
  params: ({ context }: Args) => ({ ...attemptNamed(context, p), for: waitFor, ...(timer ? { timerId: timer(context) } : {}) }),
});

/**
 * Stops the attempt in flight: cancels it, arms its stop grace and marks it as the stopped attempt, before the
 * transition's other actions clear `current`. The run then waits for the attempt's report or its grace.
 */
export const stopCurrent = (reason: string) => [
  {
    type: 'cancelTask' as const,
    params: ({ context }: Args) => ({
      runId: context.runId,
      taskId: context.current?.taskId ?? '',
      attempt: context.current?.attempt ?? 0,
      reason,
    }),
  },
  timerCommand(
    'startTimer',
    (c) => timerIds.stop(c.current?.taskId ?? '', c.current?.attempt ?? 0),
    () => STOP_GRACE_MS,
  ),
  { type: 'markStopping' as const },
];

/**
 * The root's transitions, taken in any state: the stopped attempt's own report ends the wait (and its stop timer),
 * as does its stop timer firing. Anything else about a stopped attempt is ignored.
 */
export const stopEndings = () => {
  const reported = {
    guard: { type: 'isStoppedReport' as const },
    actions: [
      timerCommand('cancelTimer', (c) => timerIds.stop(c.stopping?.taskId ?? '', c.stopping?.attempt ?? 0)),
      { type: 'clearStopping' as const },
    ],
  };
  return {
    TASK_SUCCEEDED: reported,
    TASK_FAILED: reported,
    TASK_INTERRUPTED: reported,
    TIMER_FIRED: { guard: { type: 'isStopTimer' as const }, actions: [{ type: 'clearStopping' as const }] },
  };
};
