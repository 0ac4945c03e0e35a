import { DefinitionError } from '../errors.js';
import type { Sequence, TaskHandler } from './types.js';
import { validateSequence } from './validate.js';

type Duration = string | number;

/** Retry options as written in files: durations as `500ms`, `30s`, `5m`. */
export interface RetryOptions {
  readonly maxAttempts: number;
  readonly backoff?: { readonly initial?: Duration; readonly factor?: number; readonly max?: Duration; readonly jitter?: number };
}

/**
 * What a task does: a handler function, or `{ run }` (shell) / `{ queue }` (remote) / `{ handler, queue? }` (a
 * function, and in Kafka mode the queue whose workers run it).
 */
export type TaskBody =
  | TaskHandler
  | { readonly run: string; readonly env?: Record<string, string>; readonly cwd?: string }
  | { readonly queue: string }
  | { readonly handler: TaskHandler; readonly queue?: string };

/** Data limits as written in files: sizes as bytes or `"512KiB"`, `"1MiB"`. */
export interface LimitOptions {
  readonly resultBytes?: number | string;
  readonly runBytes?: number | string;
}

/** Per-task options. */
export interface TaskOptions {
  /**
   * A function task's queue: in Kafka mode, the workers of this queue that have the sequence's code run it
   * (`createWorker({ sequences })`). Embedded mode runs it in-process whatever its queue. @default 'default'
   */
  readonly queue?: string;
  /** Overrides the sequence's limits for this task. */
  readonly limits?: LimitOptions;
  /** The only results (with the input) its dispatch carries. @default all results so far */
  readonly needs?: readonly string[];
  readonly timeout?: Duration;
  readonly retry?: RetryOptions;
  /** @default 'stop' */
  readonly onFailure?: 'stop' | 'continue';
  /** Undoes this task when a later one stops the run. */
  readonly compensate?: TaskBody;
  readonly description?: string;
}

const bodyFields = (body: TaskBody): Record<string, unknown> => (typeof body === 'function' ? { handler: body } : { ...body });

/** What a wait task and a main task have in common: everything but what runs it and its timeout. */
type WaitCommon = Pick<TaskOptions, 'description' | 'onFailure' | 'compensate' | 'limits' | 'needs'>;

/**
 * What a wait task waits for, as written in files: a signal (`lockstep signal`, the API, `client.signal`) that must
 * say how long it waits, or a durable delay (`duration`, or `until` a time or an input field like `input.remindAt`).
 */
export type WaitOptions =
  | (WaitCommon & {
      readonly signal: true;
      /** JSON Schema the signal's data must match; the data becomes the task's result. */
      readonly schema?: Record<string, unknown>;
      /** How long the wait lasts, or `'never'` to wait for ever: required, so that no wait hangs unnoticed. */
      readonly timeout: Duration | 'never';
      /** What the timeout means: the task fails (the default), or the run goes on past it. */
      readonly onTimeout?: 'fail' | 'continue';
      /** A timed-out attempt asks again; a rejection is never retried. */
      readonly retry?: RetryOptions;
    })
  | (WaitCommon & { readonly duration: Duration })
  | (WaitCommon & { readonly until: string | Date });

/** Splits a wait's options into its `wait:` field and the task's other fields, as a file has them. */
function waitFields(options: WaitOptions): Record<string, unknown> {
  const { signal, schema, duration, until, compensate, ...rest } = options as WaitOptions & {
    signal?: true;
    schema?: Record<string, unknown>;
    duration?: Duration;
    until?: string | Date;
  };
  const wait = {
    ...(signal !== undefined ? { signal } : {}),
    ...(schema !== undefined ? { schema } : {}),
    ...(duration !== undefined ? { duration } : {}),
    ...(until !== undefined ? { until } : {}),
  };
  return { wait, ...rest, ...(compensate ? { compensate: bodyFields(compensate) } : {}) };
}

/** Options of a whole sequence. */
export interface SequenceOptions {
  readonly version?: string | number;
  readonly description?: string;
  readonly timeout?: Duration;
  /** Data limits of every task, unless a task sets its own. */
  readonly limits?: LimitOptions;
}

/**
 * Builds a sequence in code. Each `then` adds the next task; the chain reads in run order, like `a >> b >> c`.
 * `build()` validates with the same schema as sequence files.
 *
 * @example
 * const deploy = sequence('deploy', { timeout: '10m' })
 *   .then('build', async () => ({ artifact: 'app.tgz' }))
 *   .then('push', { run: './push.sh' }, { retry: { maxAttempts: 3, backoff: { initial: '1s' } } })
 *   .wait('approve', { signal: true, schema: { type: 'object', required: ['approver'] }, timeout: '48h' })
 *   .finally('cleanup', async () => {})
 *   .build();
 */
export class SequenceBuilder {
  readonly #raw: {
    name: string;
    version?: string | number;
    description?: string;
    timeout?: Duration;
    limits?: LimitOptions;
    tasks: unknown[];
    finally: unknown[];
  };

  constructor(name: string, options: SequenceOptions = {}) {
    this.#raw = { name, ...options, tasks: [], finally: [] };
  }

  /** Adds the next task of the main sequence. */
  then(id: string, body: TaskBody, options: TaskOptions = {}): this {
    const { compensate, ...rest } = options;
    this.#raw.tasks.push({ id, ...bodyFields(body), ...rest, ...(compensate ? { compensate: bodyFields(compensate) } : {}) });
    return this;
  }

  /**
   * Adds the next task of the main sequence as a wait: nothing runs; the run waits for a signal (its data the
   * task's result, or a rejection), or for a delay to pass. Checked as a file's `wait:` is, with the same problems
   * at the same paths (`tasks[1].timeout`).
   *
   * @example
   * .wait('approve', { signal: true, schema, timeout: '48h', onTimeout: 'fail' })
   * .wait('cool-off', { duration: '2h' })
   * .wait('remind', { until: 'input.remindAt' })
   */
  wait(id: string, options: WaitOptions): this {
    this.#raw.tasks.push({ id, ...waitFields(options) });
    return this;
  }

  /** Adds a task that runs exactly once after the main sequence, whatever its outcome. */
  finally(id: string, body: TaskBody, options: Omit<TaskOptions, 'onFailure' | 'compensate'> = {}): this {
    this.#raw.finally.push({ id, ...bodyFields(body), ...options });
    return this;
  }

  /**
   * Validates and returns the sequence.
   *
   * @throws DefinitionError listing every problem.
   */
  build(): Sequence {
    const { finally: fin, ...rest } = this.#raw;
    const result = validateSequence(fin.length === 0 ? rest : this.#raw);
    if (!result.success) throw new DefinitionError(result.problems, `sequence ${this.#raw.name}`);
    return result.sequence;
  }
}

/** Starts a {@link SequenceBuilder}. */
export function sequence(name: string, options?: SequenceOptions): SequenceBuilder {
  return new SequenceBuilder(name, options);
}
