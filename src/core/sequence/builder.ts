import { DefinitionError } from '../errors.js';
import type { Sequence, TaskHandler } from './types.js';
import { validateSequence } from './validate.js';

type Duration = string | number;

/** Retry options as written in files: durations as `500ms`, `30s`, `5m`. */
export interface RetryOptions {
  readonly maxAttempts: number;
  readonly backoff?: { readonly initial?: Duration; readonly factor?: number; readonly max?: Duration; readonly jitter?: number };
}

/** What a task does: a handler function, or `{ run }` (shell) / `{ queue }` (remote) / `{ handler }`. */
export type TaskBody = TaskHandler | { readonly run: string; readonly env?: Record<string, string>; readonly cwd?: string } | { readonly queue: string } | { readonly handler: TaskHandler };

/** Per-task options. */
export interface TaskOptions {
  readonly timeout?: Duration;
  readonly retry?: RetryOptions;
  /** @default 'stop' */
  readonly onFailure?: 'stop' | 'continue';
  /** Undoes this task when a later one stops the run. */
  readonly compensate?: TaskBody;
  readonly description?: string;
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
  readonly #raw: { name: string; version?: string | number; description?: string; timeout?: Duration; tasks: unknown[]; finally: unknown[] };

  constructor(name: string, options: { version?: string | number; description?: string; timeout?: Duration } = {}) {
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
export function sequence(name: string, options?: { version?: string | number; description?: string; timeout?: Duration }): SequenceBuilder {
  return new SequenceBuilder(name, options);
}
