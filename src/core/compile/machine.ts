import { assign, setup } from 'xstate';
import type { Phase, Sequence, TaskSpec } from '../sequence/types.js';
import { backoffDelay } from './backoff.js';
import type { Outcome, RunContext, RunEvent, RunInput, TaskError } from './types.js';
import { idempotencyKey, timerIds } from './types.js';

type Args = { context: RunContext; event: RunEvent };
type TaskParams = { taskId: string; phase: Phase };

const matchesAttempt = (context: RunContext, event: RunEvent): boolean =>
  (event.type === 'TASK_SUCCEEDED' || event.type === 'TASK_FAILED' || event.type === 'TASK_INTERRUPTED') &&
  context.current !== null &&
  event.taskId === context.current.taskId &&
  event.attempt === context.current.attempt;

const isTimeoutOf = (context: RunContext, event: RunEvent, taskId: string): boolean =>
  event.type === 'TIMER_FIRED' && context.current !== null && context.current.taskId === taskId &&
  event.timerId === timerIds.timeout(taskId, context.current.attempt);

const failureOf = (event: RunEvent, timeoutMs: number | undefined): TaskError =>
  event.type === 'TASK_FAILED'
    ? event.error
    : { message: `timed out after ${timeoutMs ?? 0}ms`, code: 'TASK_TIMEOUT', retriable: true };

const retryBudgetLeft = (context: RunContext, event: RunEvent, taskId: string, maxAttempts: number): boolean =>
  (context.failures[taskId] ?? 0) + 1 < maxAttempts && !(event.type === 'TASK_FAILED' && event.error.retriable === false);

/** The named guards and actions every compiled machine uses; commands are the no-op actions. */
const runSetup = setup({
  types: {} as { context: RunContext; events: RunEvent; input: RunInput },
  guards: {
    isAttempt: ({ context, event }: Args) => matchesAttempt(context, event),
    canRetry: ({ context, event }: Args, p: { taskId: string; maxAttempts: number }) =>
      matchesAttempt(context, event) && retryBudgetLeft(context, event, p.taskId, p.maxAttempts),
    isTimeout: ({ context, event }: Args, p: { taskId: string }) => isTimeoutOf(context, event, p.taskId),
    timeoutCanRetry: ({ context, event }: Args, p: { taskId: string; maxAttempts: number }) =>
      isTimeoutOf(context, event, p.taskId) && retryBudgetLeft(context, event, p.taskId, p.maxAttempts),
    isRetryTimer: ({ context, event }: Args, p: { taskId: string }) =>
      event.type === 'TIMER_FIRED' && event.timerId === timerIds.retry(p.taskId, context.attempts[p.taskId] ?? 0),
    isRunTimeout: ({ event }: Args) => event.type === 'TIMER_FIRED' && event.timerId === timerIds.run,
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
    recordFailure: assign(
      ({ context, event }: Args, p: TaskParams & { exhausted: boolean; onFailure: string; timeoutMs?: number }) => {
        const failures = { ...context.failures, [p.taskId]: (context.failures[p.taskId] ?? 0) + 1 };
        const base = { current: null, failures };
        if (!p.exhausted) return base;
        const error = failureOf(event, p.timeoutMs);
        if (p.phase === 'compensate') return { ...base, compensationFailed: [...context.compensationFailed, p.taskId] };
        if (p.phase === 'finally') {
          return { ...base, finallyFailed: [...context.finallyFailed, p.taskId], ...(context.error ? {} : { error: { ...error, taskId: p.taskId } }) };
        }
        if (p.onFailure === 'continue') return { ...base, continued: [...context.continued, p.taskId] };
        return { ...base, outcome: 'failed' as const, reason: `task ${p.taskId} failed: ${error.message}`, error: { ...error, taskId: p.taskId } };
      },
    ),
    markSucceeded: assign({ outcome: 'succeeded' as const }),
    markCancelled: assign(({ event }: Args) => ({
      outcome: 'cancelled' as const,
      reason: event.type === 'CANCEL' && event.reason ? event.reason : 'cancelled',
      current: null,
    })),
    markRunTimedOut: assign({ outcome: 'failed' as const, reason: 'run timed out', current: null }),
    dispatch: () => {},
    cancelTask: () => {},
    startTimer: () => {},
    cancelTimer: () => {},
    finish: () => {},
  },
});

const dispatchCommand = (p: TaskParams) => ({
  type: 'dispatch' as const,
  params: ({ context }: Args) => {
    const attempt = context.attempts[p.taskId] ?? 1;
    return {
      runId: context.runId, taskId: p.taskId, attempt, phase: p.phase,
      idempotencyKey: idempotencyKey(context.runId, p.taskId, attempt), input: context.input, results: context.results,
    };
  },
});

const cancelCurrent = (reason: string) => ({
  type: 'cancelTask' as const,
  params: ({ context }: Args) => ({
    runId: context.runId, taskId: context.current?.taskId ?? '', attempt: context.current?.attempt ?? 0, reason,
  }),
});

const timerCommand = (type: 'startTimer' | 'cancelTimer', id: (c: RunContext) => string, delay?: (c: RunContext) => number) => ({
  type,
  params: ({ context }: Args) => ({ runId: context.runId, timerId: id(context), ...(delay ? { delayMs: delay(context) } : {}) }),
});

interface Targets {
  /** Where success goes, and where an exhausted failure goes when the run carries on. */
  readonly next: string;
  /** Where an exhausted failure goes under `onFailure: stop`; also cancel and run timeout (main phase only). */
  readonly unwind?: string;
  readonly last: boolean;
  /** Whether the sequence has a whole-run timeout. */
  readonly runTimer?: boolean;
}

/**
 * The states of one task: `running`, plus `backoff` when it may retry. Only transitions that can happen are
 * generated, so every edge of the graph is reachable (model-based tests cover all of them).
 */
function taskStates(spec: TaskSpec, phase: Phase, targets: Targets) {
  const { id: taskId, retry, timeoutMs } = spec;
  const p = { taskId, phase };
  const retries = retry.maxAttempts > 1;
  const exhaustedTarget = phase === 'main' && spec.onFailure === 'stop' ? targets.unwind! : targets.next;
  const onSuccess = [{ type: 'recordSuccess' as const, params: p }, ...(phase === 'main' && targets.last ? [{ type: 'markSucceeded' as const }] : [])];
  const retryParams = { taskId, maxAttempts: retry.maxAttempts };
  const fail = (exhausted: boolean) => ({
    type: 'recordFailure' as const,
    params: { ...p, exhausted, onFailure: spec.onFailure, ...(timeoutMs ? { timeoutMs } : {}) },
  });
  // The last main task failing under `continue` ends the main phase like a success does.
  const exhausted = [fail(true), ...(phase === 'main' && spec.onFailure === 'continue' && targets.last ? [{ type: 'markSucceeded' as const }] : [])];
  const timeoutId = (c: RunContext) => timerIds.timeout(taskId, c.attempts[taskId] ?? 0);
  const main = phase === 'main';
  const cancel = (inFlight: boolean) => ({
    target: targets.unwind!,
    actions: [...(inFlight ? [cancelCurrent('run cancelled')] : []), { type: 'markCancelled' as const }],
  });
  const runTimeout = (inFlight: boolean) =>
    main && targets.runTimer
      ? [{ guard: { type: 'isRunTimeout' as const }, target: targets.unwind!, actions: [...(inFlight ? [cancelCurrent('run timed out')] : []), { type: 'markRunTimedOut' as const }] }]
      : [];
  const timeouts = timeoutMs
    ? [
        ...(retries ? [{ guard: { type: 'timeoutCanRetry', params: retryParams }, target: 'backoff', actions: [cancelCurrent('timed out'), fail(false)] }] : []),
        { guard: { type: 'isTimeout', params: { taskId } }, target: exhaustedTarget, actions: [cancelCurrent('timed out'), ...exhausted] },
      ]
    : [];
  const timerEvents = [...timeouts, ...runTimeout(true)];
  const running = {
    entry: [
      { type: 'startAttempt', params: p },
      dispatchCommand(p),
      ...(timeoutMs ? [timerCommand('startTimer', timeoutId, () => timeoutMs)] : []),
    ],
    exit: timeoutMs ? [timerCommand('cancelTimer', timeoutId)] : [],
    on: {
      TASK_SUCCEEDED: { guard: { type: 'isAttempt' }, target: targets.next, actions: onSuccess },
      TASK_FAILED: [
        ...(retries ? [{ guard: { type: 'canRetry', params: retryParams }, target: 'backoff', actions: [fail(false)] }] : []),
        { guard: { type: 'isAttempt' }, target: exhaustedTarget, actions: exhausted },
      ],
      TASK_INTERRUPTED: { guard: { type: 'isAttempt' }, target: 'running', reenter: true },
      ...(timerEvents.length > 0 ? { TIMER_FIRED: timerEvents } : {}),
      ...(main ? { CANCEL: cancel(true) } : {}),
    },
  };
  if (!retries) return { initial: 'running', states: { running } };
  const retryId = (c: RunContext) => timerIds.retry(taskId, c.attempts[taskId] ?? 0);
  const backoff = {
    entry: [
      timerCommand('startTimer', retryId, (c) => backoffDelay(retry.backoff, c.failures[taskId] ?? 1, idempotencyKey(c.runId, taskId, c.attempts[taskId] ?? 0))),
    ],
    exit: [timerCommand('cancelTimer', retryId)],
    on: {
      TIMER_FIRED: [{ guard: { type: 'isRetryTimer', params: { taskId } }, target: 'running' }, ...runTimeout(false)],
      ...(main ? { CANCEL: cancel(false) } : {}),
    },
  };
  return { initial: 'running', states: { running, backoff } };
}

/** Compiles a validated sequence into an XState v5 machine whose actions are lockstep {@link Command}s. */
export function compile(sequence: Sequence) {
  const compensations = [...sequence.tasks].reverse().filter((t) => t.compensate);
  const settle = '#run.settling';
  const afterCompensation = sequence.finally.length > 0 ? '#run.finalizing' : settle;
  const unwind = compensations.length > 0 ? '#run.compensating' : afterCompensation;
  const afterMain = afterCompensation;

  const mainStates = Object.fromEntries(
    sequence.tasks.map((task, i) => {
      const last = i === sequence.tasks.length - 1;
      const next = last ? afterMain : `#run.main.${sequence.tasks[i + 1]!.id}`;
      return [task.id, taskStates(task, 'main', { next, unwind, last, runTimer: sequence.timeoutMs !== undefined })];
    }),
  );
  const compensationStates = Object.fromEntries(
    compensations.map((task, i) => {
      const next = i === compensations.length - 1 ? afterCompensation : `#run.compensating.${compensations[i + 1]!.id}`;
      const inner = taskStates(task.compensate!, 'compensate', { next, last: false });
      return [task.id, {
        initial: 'check',
        states: {
          check: { always: [{ guard: { type: 'wasCompleted', params: { taskId: task.id } }, target: 'running' }, { target: next }] },
          ...inner.states,
        },
      }];
    }),
  );
  const finallyStates = Object.fromEntries(
    sequence.finally.map((task, i) => {
      const next = i === sequence.finally.length - 1 ? settle : `#run.finalizing.${sequence.finally[i + 1]!.id}`;
      return [task.id, taskStates(task, 'finally', { next, last: false })];
    }),
  );
  const finish = (outcome: Outcome) => ({
    type: 'final' as const,
    entry: [{
      type: 'finish' as const,
      params: ({ context }: Args) => ({
        runId: context.runId, outcome,
        ...(outcome !== 'succeeded' ? { reason: context.reason ?? (context.finallyFailed[0] ? `finally task ${context.finallyFailed[0]} failed` : outcome) } : {}),
      }),
    }],
  });
  const runTimer = sequence.timeoutMs;

  return runSetup.createMachine({
    id: 'run',
    context: ({ input }: { input: RunInput }): RunContext => ({
      runId: input.runId, input: input.input ?? null, current: null, attempts: {}, failures: {}, completed: [], continued: [],
      results: {}, outcome: null, reason: null, error: null, compensated: [], compensationFailed: [], finallyFailed: [],
    }),
    initial: 'main',
    states: {
      main: {
        initial: sequence.tasks[0]!.id,
        ...(runTimer ? { entry: [timerCommand('startTimer', () => timerIds.run, () => runTimer)], exit: [timerCommand('cancelTimer', () => timerIds.run)] } : {}),
        states: mainStates,
      },
      ...(compensations.length > 0 ? { compensating: { initial: compensations[0]!.id, states: compensationStates } } : {}),
      ...(sequence.finally.length > 0 ? { finalizing: { initial: sequence.finally[0]!.id, states: finallyStates } } : {}),
      settling: {
        always: [
          { guard: { type: 'outcomeIs', params: { outcome: 'succeeded' } }, target: 'succeeded' },
          { guard: { type: 'outcomeIs', params: { outcome: 'cancelled' } }, target: 'cancelled' },
          { target: 'failed' },
        ],
      },
      succeeded: finish('succeeded'),
      failed: finish('failed'),
      cancelled: finish('cancelled'),
    },
  } as never);
}

/** The machine type {@link compile} returns. */
export type RunMachine = ReturnType<typeof compile>;
