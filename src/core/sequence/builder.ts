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

/** Options of a whole sequence. */
export interface SequenceOptions {
  readonly version?: string | number;
  readonly description?: string;
  readonly timeout?: Duration;
  /** Data limits of every task, unless a task sets its own. */
  readonly limits?: LimitOptions;
}

const bodyFields = (body: TaskBody): Record<string, unknown> => (typeof body === 'function' ? { handler: body } : { ...body });

/**
 * Builds a sequence in code. Each `then` adds the next task; the chain reads in run order, like `a >> b >> c`.
 * `build()` validates with the same schema as sequence files.
 *
 * @example
 * const deploy = sequence('deploy', { timeout: '10m' })
 *   .then('build', async () => ({ artifact: 'app.tgz' }))
 *   .then('push', { run: './push.sh' }, { retry: { maxAttempts: 3, backoff: { initial: '1s' } } })
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
