import type { RunEvent, TaskError } from '../../src/core/compile/types.js';
import { timerIds } from '../../src/core/compile/types.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import type { Phase } from '../../src/core/sequence/types.js';
import type { RunHistory } from '../../src/testing/history-checker.js';

const ERROR: TaskError = { message: 'exit 1', retriable: true };
const TIMEOUT: TaskError = { message: 'timed out after 10000ms', code: 'TASK_TIMEOUT', retriable: true };

/**
 * Writes a run's history by hand, entry by entry, the way lockstep records it (events included): for crafting
 * histories, good and bad, that the checker must judge.
 */
export class HistoryBuilder {
  readonly entries: RunEntry[] = [];
  #at = 1_000;

  constructor(
    readonly runId: string,
    sequence: string,
    options: { version?: string; reused?: string[] } = {},
  ) {
    this.#push({
      type: 'run.started',
      sequence,
      version: options.version ?? '1',
      input: null,
      ...(options.reused ? { reused: options.reused } : {}),
    });
  }

  #push(entry: Record<string, unknown>): this {
    this.#at += 10;
    this.entries.push({ runId: this.runId, at: this.#at, ...entry } as RunEntry);
    return this;
  }

  start(task: string, attempt = 1, phase: Phase = 'main'): this {
    return this.#push({ type: 'task.started', task, attempt, phase, idempotencyKey: `${this.runId}:${task}:${attempt}` });
  }

  ok(task: string, attempt = 1, phase: Phase = 'main'): this {
    const event: RunEvent = { type: 'TASK_SUCCEEDED', taskId: task, attempt };
    return this.#push({ type: 'task.succeeded', task, attempt, phase, durationMs: 10, event });
  }

  fail(task: string, attempt = 1, phase: Phase = 'main', willRetry = false): this {
    const event: RunEvent = { type: 'TASK_FAILED', taskId: task, attempt, error: ERROR };
    return this.#push({ type: 'task.failed', task, attempt, phase, durationMs: 10, error: ERROR, willRetry, event });
  }

  /** The attempt's task timeout fires: it fails (and is stopped, until `stopped`). */
  timeout(task: string, attempt = 1, phase: Phase = 'main', willRetry = false): this {
    const event: RunEvent = { type: 'TIMER_FIRED', timerId: timerIds.timeout(task, attempt) };
    return this.#push({ type: 'task.failed', task, attempt, phase, durationMs: 10, error: TIMEOUT, willRetry, event });
  }

  stopped(task: string, attempt = 1, phase: Phase = 'main'): this {
    const event: RunEvent = { type: 'TASK_FAILED', taskId: task, attempt, error: { message: 'aborted' } };
    return this.#push({ type: 'task.stopped', task, attempt, phase, durationMs: 10, how: 'reported', error: event.error, event });
  }

  interrupted(task: string, attempt = 1, phase: Phase = 'main'): this {
    return this.#push({ type: 'task.interrupted', task, attempt, phase, event: { type: 'TASK_INTERRUPTED', taskId: task, attempt } });
  }

  retryTimer(task: string, attempt: number): this {
    const timerId = timerIds.retry(task, attempt);
    return this.#push({ type: 'timer.fired', timerId, event: { type: 'TIMER_FIRED', timerId } });
  }

  cancel(): this {
    return this.#push({ type: 'run.cancelling', reason: 'cancelled', event: { type: 'CANCEL' } });
  }

  ignored(event: RunEvent): this {
    return this.#push({ type: 'event.ignored', reason: 'duplicate', event });
  }

  end(outcome: 'succeeded' | 'failed' | 'cancelled', failedTasks: string[] = []): this {
    return this.#push({ type: `run.${outcome}`, outcome, durationMs: this.#at - 1_000, failedTasks });
  }

  get history(): RunHistory {
    return { runId: this.runId, entries: this.entries };
  }
}
