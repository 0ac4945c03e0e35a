import type { DataLimits } from './limits.js';
import type { WaitSpec } from './wait.js';

export type { WaitSpec } from './wait.js';

/**
 * What a task does: a shell command, a function (a handler), or a remote queue's work. A function task runs in
 * the orchestrator's process in embedded mode; in Kafka mode it runs on the workers of its `queue` that have the
 * sequence's code (`default` unless it names one). A wait task runs nothing: the orchestrator holds the run until
 * its signal, rejection, timeout or due time.
 */
export type TaskAction =
  | { readonly kind: 'shell'; readonly run: string; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string }
  | { readonly kind: 'handler'; readonly handler: TaskHandler; readonly queue?: string }
  | { readonly kind: 'queue'; readonly queue: string }
  /** Nothing runs: the task waits for a signal, or for a delay to pass (see {@link WaitSpec}). */
  | { readonly kind: 'wait'; readonly wait: WaitSpec };

/** Retry policy of one task. `maxAttempts` counts failed attempts, the first included. */
export interface RetryPolicy {
  /** @default 1 (no retry) */
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
}

/** Delay before retry n (n >= 1) is `min(maxMs, initialMs * factor^(n-1))`, reduced by up to `jitter` of itself. */
export interface BackoffPolicy {
  /** @default 1000 */
  readonly initialMs: number;
  /** @default 2 */
  readonly factor: number;
  /** @default 300000 (5m) */
  readonly maxMs: number;
  /** Fraction in [0, 1] of the delay that is randomised (deterministically, from the idempotency key). @default 0 */
  readonly jitter: number;
}

/** What happens to the run when a task has failed all its attempts. */
export type OnFailure = 'stop' | 'continue';

/** One task of a sequence, normalised (durations in ms, defaults filled in). */
export interface TaskSpec {
  /** Unique within the sequence. Compensation tasks are named `<id>.compensate`. */
  readonly id: string;
  readonly action: TaskAction;
  readonly timeoutMs?: number;
  readonly retry: RetryPolicy;
  readonly onFailure: OnFailure;
  readonly compensate?: TaskSpec;
  readonly description?: string;
  /** Its data limits: the task's own `limits`, else the sequence's, else the defaults. Missing reads as the defaults. */
  readonly limits?: DataLimits;
  /** The only results its dispatch carries (with the input). Missing: all results so far. */
  readonly needs?: readonly string[];
}

/** A validated, normalised sequence definition. */
export interface Sequence {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  /** Whole-run timeout: when it fires the run stops as failed (compensations and finally tasks still run). */
  readonly timeoutMs?: number;
  readonly tasks: readonly TaskSpec[];
  readonly finally: readonly TaskSpec[];
  /** The sequence's data limits, defaults filled in (each task may override them). */
  readonly limits?: DataLimits;
}

/** Which part of a run a task belongs to. */
export const Phase = { main: 'main', compensate: 'compensate', finally: 'finally' } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** What an in-process handler receives. */
export interface TaskContext {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  /** `<runId>:<taskId>:<attempt>`: stable across redeliveries of the same attempt. */
  readonly idempotencyKey: string;
  readonly phase: Phase;
  readonly input: unknown;
  /** Results of the tasks that succeeded so far, by task id. */
  readonly results: Readonly<Record<string, unknown>>;
  /**
   * The attempt's W3C `traceparent`, when the run is traced or was started with one: pass it on to what the task
   * calls, so its spans join the run's trace.
   */
  readonly traceparent?: string;
  /** Aborted when the attempt is cancelled or times out. */
  readonly signal: AbortSignal;
  /**
   * Writes a line to the attempt's log (stream `log`), its arguments formatted like `console.log`: kept with the
   * run (embedded) or shipped on the log topic (Kafka), and shown by `lockstep logs`.
   */
  readonly log: (...args: unknown[]) => void;
}

/** An in-process task. Its return value is the task's result; a throw is a failure. */
export type TaskHandler = (ctx: TaskContext) => unknown;
