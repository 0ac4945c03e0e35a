import type { Phase } from '../sequence/types.js';

/** How a run ended. */
export const Outcome = { succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** A failure as it travels in events: serialisable, with an optional code and retriable flag. */
export interface TaskError {
  readonly message: string;
  readonly code?: string;
  /** `false` skips the remaining attempts. @default true */
  readonly retriable?: boolean;
  readonly type?: string;
  /** Tail of stdout/stderr for shell tasks. */
  readonly output?: string;
}

/** Events that drive a run's machine. Time enters only as `TIMER_FIRED`. */
export type RunEvent =
  | { readonly type: 'TASK_SUCCEEDED'; readonly taskId: string; readonly attempt: number; readonly result?: unknown }
  | { readonly type: 'TASK_FAILED'; readonly taskId: string; readonly attempt: number; readonly error: TaskError }
  | { readonly type: 'TASK_INTERRUPTED'; readonly taskId: string; readonly attempt: number }
  | { readonly type: 'TIMER_FIRED'; readonly timerId: string }
  | { readonly type: 'CANCEL'; readonly reason?: string };

/** Commands a run emits; a runner executes them and feeds completions back as {@link RunEvent}s. */
export type Command =
  | {
      readonly type: 'dispatch';
      readonly runId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly idempotencyKey: string;
      readonly input: unknown;
      readonly results: Readonly<Record<string, unknown>>;
    }
  | { readonly type: 'cancelTask'; readonly runId: string; readonly taskId: string; readonly attempt: number; readonly reason: string }
  | {
      readonly type: 'startTimer';
      readonly runId: string;
      readonly timerId: string;
      readonly delayMs: number;
      /** The due time in ms since the epoch, for a timer due at a time rather than after a delay (`wait.until`). */
      readonly atMs?: number;
    }
  | {
      /** A wait task's attempt began: nothing is dispatched; the run waits for a signal, or for `timerId` to fire. */
      readonly type: 'wait';
      readonly runId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly phase: Phase;
      readonly idempotencyKey: string;
      readonly for: 'signal' | 'time';
      /** The timer that ends the wait: a signal wait's timeout (none under `timeout: never`), a delay's due time. */
      readonly timerId?: string;
    }
  | { readonly type: 'cancelTimer'; readonly runId: string; readonly timerId: string }
  | { readonly type: 'finish'; readonly runId: string; readonly outcome: Outcome; readonly reason?: string };

/** The task in flight, if any. */
export interface CurrentTask {
  readonly taskId: string;
  readonly attempt: number;
  readonly phase: Phase;
}

/** The whole state of one run besides its state value. JSON-serialisable. */
export interface RunContext {
  readonly runId: string;
  readonly input: unknown;
  current: CurrentTask | null;
  /**
   * The attempt the machine stopped (task timeout, cancel, run timeout) and whose end it still waits for: its own
   * report, or its stop timer ({@link STOP_GRACE_MS}). No attempt is dispatched and the run does not end while it
   * is set. Contexts persisted before this field existed lack it: read a missing value as `null`.
   */
  stopping: CurrentTask | null;
  /** Dispatches so far, per task id. */
  attempts: Record<string, number>;
  /** Failed attempts so far, per task id (interruptions do not count). */
  failures: Record<string, number>;
  /** Main tasks that succeeded, in order. */
  completed: string[];
  /** Main tasks that failed under `onFailure: continue`. */
  continued: string[];
  results: Record<string, unknown>;
  /** Decided when the main phase ends; finally failures can still turn `succeeded` into `failed`. */
  outcome: Outcome | null;
  reason: string | null;
  /** The error that stopped the run, if one did. */
  error: (TaskError & { taskId: string }) | null;
  compensated: string[];
  compensationFailed: string[];
  finallyFailed: string[];
}

/** Input of a run's machine. */
export interface RunInput {
  readonly runId: string;
  readonly input?: unknown;
}

/**
 * How long a run waits for an attempt it stopped (after a task timeout, a cancel or the run timeout) to end
 * before it goes on anyway: 15 s. Longer than the 5 s a shell task gets between SIGTERM and SIGKILL, so a
 * stopped process normally ends, and reports, well within it; the limit only keeps a dead remote worker from
 * blocking a run for ever.
 */
export const STOP_GRACE_MS = 15_000;

/** Ids of a run's timers. */
export const timerIds = {
  timeout: (taskId: string, attempt: number) => `timeout:${taskId}:${attempt}`,
  retry: (taskId: string, attempt: number) => `retry:${taskId}:${attempt}`,
  /** The stop grace of a stopped attempt: when it fires, the run stops waiting for the attempt's report. */
  stop: (taskId: string, attempt: number) => `stop:${taskId}:${attempt}`,
  /** A delay's due time (`wait.duration`, `wait.until`): when it fires, the wait task succeeds. */
  wait: (taskId: string, attempt: number) => `wait:${taskId}:${attempt}`,
  run: 'timeout:run',
} as const;

/** What a timer id names: the run's timeout, or one attempt's timeout, retry backoff, stop grace or delay. */
export type TimerOf =
  | { readonly kind: 'run' }
  | { readonly kind: 'timeout' | 'retry' | 'stop' | 'wait'; readonly taskId: string; readonly attempt: number };

const ATTEMPT_TIMER = /^(timeout|retry|stop|wait):(.+):([1-9]\d*)$/;

/** Reads a timer id made by {@link timerIds}; `undefined` for any other text. */
export function timerOf(timerId: string): TimerOf | undefined {
  if (timerId === timerIds.run) return { kind: 'run' };
  const m = ATTEMPT_TIMER.exec(timerId);
  if (!m || !Number.isSafeInteger(Number(m[3]))) return undefined;
  return { kind: m[1] as 'timeout' | 'retry' | 'stop' | 'wait', taskId: m[2]!, attempt: Number(m[3]) };
}

export const idempotencyKey = (runId: string, taskId: string, attempt: number): string => `${runId}:${taskId}:${attempt}`;
