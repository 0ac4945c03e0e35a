import type { TaskError } from '../core/compile/types.js';
import { LockstepError } from '../core/errors.js';
import type { EnvelopeOf } from '../core/protocol/envelope.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { Clock } from '../ports/clock.js';
import type { ConsumedMessage, Subscription, TopicMessage, Transport } from '../ports/transport.js';
import { envelope } from './messages.js';

/** One dispatched attempt, as a worker sees it. */
export type DispatchedTask = EnvelopeOf<'task.dispatch'>;

/** Runs one attempt; the resolved value is the result, a rejection is a failure. */
export type Executor = (task: DispatchedTask, signal: AbortSignal) => Promise<unknown>;

export interface WorkerOptions {
  readonly transport: Transport;
  readonly queue: string;
  readonly clock: Clock;
  readonly execute: Executor;
  /** @default 'lockstep' */
  readonly topicPrefix?: string;
  /** @default `lockstep-workers-<queue>` */
  readonly group?: string;
}

export interface WorkerStats {
  started: number;
  succeeded: number;
  failed: number;
  /** Dispatches of an attempt that was already running or done here. */
  duplicates: number;
  cancelled: number;
}

/** A running worker. */
export interface WorkerHandle {
  readonly stats: WorkerStats;
  /** Attempts running now. */
  inFlight(): number;
  /** Stops taking work; cancels the attempts in flight when `cancelInFlight` is set, else waits for them. */
  close(options?: { cancelInFlight?: boolean }): Promise<void>;
}

/** Turns anything thrown by a task into a serialisable failure. */
export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; type?: unknown; output?: unknown };
    return {
      message: e.message,
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      retriable: error instanceof LockstepError ? error.retriable : true,
      type: typeof e.type === 'string' ? e.type : e.name,
      ...(typeof e.output === 'string' && e.output !== '' ? { output: e.output } : {}),
    };
  }
  return { message: String(error), retriable: true };
}

const COMPLETED_MEMORY = 10_000;

/**
 * Executes task attempts dispatched to a queue and reports each outcome as an event. Execution is at least
 * once: a redelivered dispatch of an attempt already running is ignored, and one already finished gets its
 * recorded outcome again instead of a second execution.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const topics = topicNames(options.topicPrefix);
  const stats: WorkerStats = { started: 0, succeeded: 0, failed: 0, duplicates: 0, cancelled: 0 };
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const completed = new Map<string, TopicMessage>();
  let closing = false;

  const report = (message: TopicMessage, key: string) => {
    completed.set(key, message);
    if (completed.size > COMPLETED_MEMORY) completed.delete(completed.keys().next().value!);
    return options.transport.publish([message]);
  };

  const run = (task: DispatchedTask) => {
    const key = task.payload.idempotencyKey;
    const controller = new AbortController();
    stats.started++;
    const base = { runId: task.runId, taskId: task.taskId, attempt: task.attempt };
    const done = (async () => {
      let message: TopicMessage;
      try {
        const result = await options.execute(task, controller.signal);
        stats.succeeded++;
        message = { topic: topics.events, key: task.runId, value: envelope({ type: 'task.succeeded', ...base, payload: result === undefined ? {} : { result } }, options.clock.now()) };
      } catch (error) {
        stats.failed++;
        message = { topic: topics.events, key: task.runId, value: envelope({ type: 'task.failed', ...base, payload: { error: toTaskError(error) } }, options.clock.now()) };
      }
      running.delete(key);
      await report(message, key).catch(() => completed.delete(key));
    })();
    running.set(key, { controller, done });
  };

  const handle = async (batch: readonly ConsumedMessage[]): Promise<TopicMessage[]> => {
    const replies: TopicMessage[] = [];
    for (const message of batch) {
      const env = message.value;
      if (!env) continue;
      if (env.type === 'task.dispatch') {
        const key = env.payload.idempotencyKey;
        const earlier = completed.get(key);
        if (running.has(key)) stats.duplicates++;
        else if (earlier) {
          stats.duplicates++;
          replies.push(earlier);
        } else if (!closing) run(env);
      } else if (env.type === 'task.cancel') {
        const key = `${env.runId}:${env.taskId}:${env.attempt}`;
        const attempt = running.get(key);
        if (attempt) {
          stats.cancelled++;
          attempt.controller.abort(env.payload.reason);
        }
      }
    }
    return replies;
  };

  const subscription: Subscription = await options.transport.subscribe(
    { topic: topics.commands(options.queue), group: options.group ?? `lockstep-workers-${options.queue}` },
    handle,
  );

  return {
    stats,
    inFlight: () => running.size,
    async close({ cancelInFlight = false } = {}) {
      closing = true;
      await subscription.close();
      if (cancelInFlight) for (const r of running.values()) r.controller.abort('worker shutting down');
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}

