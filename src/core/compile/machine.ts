import type { Phase, Sequence, TaskSpec, WaitSpec } from '../sequence/types.js';
import { untilDueAt } from '../sequence/wait.js';
import { backoffDelay } from './backoff.js';
import { dispatchCommand, runSetup, stopCurrent, stopEndings, timerCommand, waitCommand } from './run-setup.js';
import type { Outcome, RunContext, RunInput } from './types.js';
import { idempotencyKey, STOP_GRACE_MS, timerIds } from './types.js';

type Args = { context: RunContext };

interface Targets {
  /** Where success goes, and where an exhausted failure goes when the run carries on. */
  readonly next: string;
  /** Where an exhausted failure goes under `onFailure: stop`; also cancel and run timeout (main phase only). */
  readonly unwind?: string;
  readonly last: boolean;
  /** Whether the sequence has a whole-run timeout. */
  readonly runTimer?: boolean;
  /** Whether the task can be entered while an attempt stopped before it is still ending: it then starts in `waiting`. */
  readonly entryMayStop: boolean;
}

/**
 * Whether a retry of the task can come due while the attempt a timeout stopped is still ending, i.e. whether some
 * backoff delay (at its shortest, jitter included) is shorter than the stop grace.
 */
function retryMayStop(spec: TaskSpec): boolean {
  const { maxAttempts, backoff } = spec.retry;
  if (!spec.timeoutMs) return false;
  for (let failures = 1; failures < maxAttempts; failures++) {
    if (backoffDelay({ ...backoff, jitter: 0 }, failures, '') * (1 - backoff.jitter) < STOP_GRACE_MS) return true;
  }
  return false;
}

/**
 * The states of one task: `running`, plus `backoff` when it may retry, plus `waiting` when an attempt can be due
 * while a stopped one (a timeout, a cancel) is still ending: no attempt starts before the stopped one has ended.
 * Only transitions that can happen are generated, so every edge of the graph is reachable (model-based tests
 * cover all of them).
 */
function taskStates(spec: TaskSpec, phase: Phase, targets: Targets) {
  const { id: taskId, retry, timeoutMs } = spec;
  const p = { taskId, phase };
  const retries = retry.maxAttempts > 1;
  const exhaustedTarget = phase === 'main' && spec.onFailure === 'stop' ? targets.unwind! : targets.next;
  const onSuccess = [
    { type: 'recordSuccess' as const, params: p },
    ...(phase === 'main' && targets.last ? [{ type: 'markSucceeded' as const }] : []),
  ];
  const retryParams = { taskId, maxAttempts: retry.maxAttempts };
  const fail = (exhausted: boolean) => ({
    type: 'recordFailure' as const,
    params: {
      ...p,
      exhausted,
      onFailure: spec.onFailure,
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(spec.action.kind === 'wait' ? { waits: true } : {}),
    },
  });
  // The last main task failing under `continue` ends the main phase like a success does.
  const exhausted = [
    fail(true),
    ...(phase === 'main' && spec.onFailure === 'continue' && targets.last ? [{ type: 'markSucceeded' as const }] : []),
  ];
  const timeoutId = (c: RunContext) => timerIds.timeout(taskId, c.attempts[taskId] ?? 0);
  const main = phase === 'main';
  const cancel = (inFlight: boolean) => ({
    target: targets.unwind!,
    actions: [...(inFlight ? stopCurrent('run cancelled') : []), { type: 'markCancelled' as const }],
  });
  const runTimeout = (inFlight: boolean) =>
    main && targets.runTimer
      ? [
          {
            guard: { type: 'isRunTimeout' as const },
            target: targets.unwind!,
            actions: [...(inFlight ? stopCurrent('run timed out') : []), { type: 'markRunTimedOut' as const }],
          },
        ]
      : [];
  const timeouts = timeoutMs
    ? [
        ...(retries
          ? [
              {
                guard: { type: 'timeoutCanRetry', params: retryParams },
                target: 'backoff',
                actions: [...stopCurrent('timed out'), fail(false)],
              },
            ]
          : []),
        { guard: { type: 'isTimeout', params: { taskId } }, target: exhaustedTarget, actions: [...stopCurrent('timed out'), ...exhausted] },
      ]
    : [];
  if (spec.action.kind === 'wait') {
    const running = waitRunning(spec, spec.action.wait, {
      p,
      targets,
      exhaustedTarget,
      onSuccess,
      exhausted,
      fail,
      retryParams,
      // Nothing runs, so nothing is stopped: the run leaves the wait at once.
      runTimeout: runTimeout(false),
      cancel: main ? { CANCEL: cancel(false) } : {},
    });
    return withRetry(spec, p, targets, running, false, runTimeout, cancel);
  }
  const timerEvents = [...timeouts, ...runTimeout(true)];
  const running = {
    entry: [
      { type: 'startAttempt', params: p },
      dispatchCommand(p, spec.needs),
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
  return withRetry(spec, p, targets, running, retries && retryMayStop(spec), runTimeout, cancel);
}

type RunTimeout = (inFlight: boolean) => Array<{ guard: { type: 'isRunTimeout' }; target: string; actions: unknown[] }>;
type Cancel = (inFlight: boolean) => { target: string; actions: unknown[] };

/**
 * A task's states around its `running` state: the `waiting` gate when an attempt can be due while a stopped one is
 * still ending, and `backoff` when it may retry.
 */
function withRetry(
  spec: TaskSpec,
  p: { taskId: string; phase: Phase },
  targets: Targets,
  running: object,
  gateRetry: boolean,
  runTimeout: RunTimeout,
  cancel: Cancel,
) {
  const { id: taskId, retry } = spec;
  const retries = retry.maxAttempts > 1;
  const main = p.phase === 'main';
  // Entered only while a stopped attempt may still be ending; leaves for `running` as soon as nothing is.
  const waiting = {
    always: [{ guard: { type: 'notStopping' as const }, target: 'running' }],
    on: {
      ...(runTimeout(false).length > 0 ? { TIMER_FIRED: runTimeout(false) } : {}),
      ...(main ? { CANCEL: cancel(false) } : {}),
    },
  };
  const gate = targets.entryMayStop || gateRetry ? { waiting } : {};
  const initial = targets.entryMayStop ? 'waiting' : 'running';
  if (!retries) return { initial, states: { ...gate, running } };
  const retryId = (c: RunContext) => timerIds.retry(taskId, c.attempts[taskId] ?? 0);
  const backoff = {
    entry: [
      timerCommand('startTimer', retryId, (c) =>
        backoffDelay(retry.backoff, c.failures[taskId] ?? 1, idempotencyKey(c.runId, taskId, c.attempts[taskId] ?? 0)),
      ),
    ],
    exit: [timerCommand('cancelTimer', retryId)],
    on: {
      TIMER_FIRED: [
        { guard: { type: 'isRetryTimer', params: { taskId } }, target: gateRetry ? 'waiting' : 'running' },
        ...runTimeout(false),
      ],
      ...(main ? { CANCEL: cancel(false) } : {}),
    },
  };
  return { initial, states: { ...gate, running, backoff } };
}

interface WaitParts {
  readonly p: { taskId: string; phase: Phase };
  readonly targets: Targets;
  readonly exhaustedTarget: string;
  readonly onSuccess: unknown[];
  readonly exhausted: unknown[];
  readonly fail: (exhausted: boolean) => { type: 'recordFailure'; params: object };
  readonly retryParams: { taskId: string; maxAttempts: number };
  readonly runTimeout: unknown[];
  readonly cancel: object;
}

/**
 * The `running` state of a wait task: nothing is dispatched and nothing can be stopped. A signal wait ends with
 * its signal (`TASK_SUCCEEDED` of the attempt, its data the result), a rejection (`TASK_FAILED`, never retried) or
 * its timeout, which under `onTimeout: continue` lets the run go on past it and otherwise fails the task (a retry
 * then asks again). A delay ends, successfully, when its timer fires.
 */
function waitRunning(spec: TaskSpec, wait: WaitSpec, parts: WaitParts) {
  const { p, targets, exhaustedTarget, onSuccess, exhausted, fail, retryParams, runTimeout, cancel } = parts;
  const { id: taskId, timeoutMs } = spec;
  const main = p.phase === 'main';
  if (wait.for !== 'signal') {
    const waitId = (c: RunContext) => timerIds.wait(taskId, c.attempts[taskId] ?? 0);
    const due =
      wait.for === 'delay'
        ? timerCommand('startTimer', waitId, () => wait.delayMs)
        : timerCommand(
            'startTimer',
            waitId,
            () => 0,
            (c) => untilDueAt(wait, c.input) ?? 0,
          );
    return {
      entry: [{ type: 'startAttempt', params: p }, waitCommand(p, 'time', waitId), due],
      exit: [timerCommand('cancelTimer', waitId)],
      on: {
        TIMER_FIRED: [{ guard: { type: 'isWaitTimer', params: { taskId } }, target: targets.next, actions: onSuccess }, ...runTimeout],
        ...cancel,
      },
    };
  }
  const timeoutId = (c: RunContext) => timerIds.timeout(taskId, c.attempts[taskId] ?? 0);
  // `continue`: the run goes on as after a failure under `onFailure: continue`, whatever the task's onFailure.
  const goOn = [
    { type: 'recordFailure' as const, params: { ...p, exhausted: true, onFailure: 'continue', ...(timeoutMs ? { timeoutMs } : {}) } },
    ...(main && targets.last ? [{ type: 'markSucceeded' as const }] : []),
  ];
  const timedOut =
    wait.onTimeout === 'continue' ? { target: targets.next, actions: goOn } : { target: exhaustedTarget, actions: exhausted };
  const timeouts = timeoutMs
    ? [
        ...(spec.retry.maxAttempts > 1
          ? [{ guard: { type: 'timeoutCanRetry', params: retryParams }, target: 'backoff', actions: [fail(false)] }]
          : []),
        { guard: { type: 'isTimeout', params: { taskId } }, ...timedOut },
      ]
    : [];
  const timerEvents = [...timeouts, ...runTimeout];
  return {
    entry: [
      { type: 'startAttempt', params: p },
      waitCommand(p, 'signal', timeoutMs ? timeoutId : undefined),
      ...(timeoutMs ? [timerCommand('startTimer', timeoutId, () => timeoutMs)] : []),
    ],
    exit: timeoutMs ? [timerCommand('cancelTimer', timeoutId)] : [],
    on: {
      TASK_SUCCEEDED: { guard: { type: 'isAttempt' }, target: targets.next, actions: onSuccess },
      // A rejection: the task fails for good (compensations run under onFailure: stop).
      TASK_FAILED: { guard: { type: 'isAttempt' }, target: exhaustedTarget, actions: exhausted },
      ...(timerEvents.length > 0 ? { TIMER_FIRED: timerEvents } : {}),
      ...cancel,
    },
  };
}

/** The context of a run that has not done anything yet: the machine's first, and what a partial record lacks. */
export function initialRunContext(runId: string, input: unknown): RunContext {
  return {
    runId,
    input,
    current: null,
    stopping: null,
    attempts: {},
    failures: {},
    completed: [],
    continued: [],
    results: {},
    outcome: null,
    reason: null,
    error: null,
    compensated: [],
    compensationFailed: [],
    finallyFailed: [],
  };
}

/**
 * Compiles a validated sequence into an XState v5 machine whose actions are lockstep {@link Command}s.
 *
 * Order is state: an attempt starts only once the one before it has ended. An attempt the machine stops (task
 * timeout, cancel, run timeout) is cancelled and recorded in `stopping`; no attempt is dispatched, and the run
 * does not end, until that attempt reports or its stop grace ({@link STOP_GRACE_MS}) runs out.
 */
export function compile(sequence: Sequence) {
  const compensations = [...sequence.tasks].reverse().filter((t) => t.compensate);
  const lastFinally = sequence.finally[sequence.finally.length - 1];
  // A cancel can always reach the end of the run with its attempt still ending, unless a finally task runs in
  // between (and the last finally task cannot itself be stopped by a timeout).
  const draining = lastFinally === undefined || lastFinally.timeoutMs !== undefined;
  const settle = draining ? '#run.draining' : '#run.settling';
  const afterCompensation = sequence.finally.length > 0 ? '#run.finalizing' : settle;
  const unwind = compensations.length > 0 ? '#run.compensating' : afterCompensation;
  const afterMain = afterCompensation;
  const runTimer = sequence.timeoutMs;

  const mainStates = Object.fromEntries(
    sequence.tasks.map((task, i) => {
      const last = i === sequence.tasks.length - 1;
      const next = last ? afterMain : `#run.main.${sequence.tasks[i + 1]!.id}`;
      const previous = sequence.tasks[i - 1];
      // Only a task after one that can time out and carry on can start while a stopped attempt is ending.
      const entryMayStop = previous !== undefined && previous.timeoutMs !== undefined && previous.onFailure === 'continue';
      return [task.id, taskStates(task, 'main', { next, unwind, last, runTimer: runTimer !== undefined, entryMayStop })];
    }),
  );
  const compensationStates = Object.fromEntries(
    compensations.map((task, i) => {
      const next = i === compensations.length - 1 ? afterCompensation : `#run.compensating.${compensations[i + 1]!.id}`;
      // A cancel during the task after this one reaches this compensation with the cancelled attempt still ending.
      const inner = taskStates(task.compensate!, 'compensate', { next, last: false, entryMayStop: true });
      return [
        task.id,
        {
          initial: 'check',
          states: {
            check: { always: [{ guard: { type: 'wasCompleted', params: { taskId: task.id } }, target: 'waiting' }, { target: next }] },
            ...inner.states,
          },
        },
      ];
    }),
  );
  const finallyStates = Object.fromEntries(
    sequence.finally.map((task, i) => {
      const next = i === sequence.finally.length - 1 ? settle : `#run.finalizing.${sequence.finally[i + 1]!.id}`;
      // The first one can follow a cancel directly; the others only a finally task that timed out.
      const entryMayStop = i === 0 || sequence.finally[i - 1]!.timeoutMs !== undefined;
      return [task.id, taskStates(task, 'finally', { next, last: false, entryMayStop })];
    }),
  );
  const finish = (outcome: Outcome) => ({
    type: 'final' as const,
    entry: [
      {
        type: 'finish' as const,
        params: ({ context }: Args) => ({
          runId: context.runId,
          outcome,
          ...(outcome !== 'succeeded'
            ? { reason: context.reason ?? (context.finallyFailed[0] ? `finally task ${context.finallyFailed[0]} failed` : outcome) }
            : {}),
        }),
      },
    ],
  });

  return runSetup.createMachine({
    id: 'run',
    context: ({ input }: { input: RunInput }): RunContext => initialRunContext(input.runId, input.input ?? null),
    initial: 'main',
    on: stopEndings(),
    states: {
      main: {
        initial: sequence.tasks[0]!.id,
        ...(runTimer
          ? {
              entry: [
                timerCommand(
                  'startTimer',
                  () => timerIds.run,
                  () => runTimer,
                ),
              ],
              exit: [timerCommand('cancelTimer', () => timerIds.run)],
            }
          : {}),
        states: mainStates,
      },
      ...(compensations.length > 0 ? { compensating: { initial: compensations[0]!.id, states: compensationStates } } : {}),
      ...(sequence.finally.length > 0 ? { finalizing: { initial: sequence.finally[0]!.id, states: finallyStates } } : {}),
      // The run ends only once nothing it started is still running.
      ...(draining ? { draining: { always: [{ guard: { type: 'notStopping' }, target: 'settling' }] } } : {}),
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
