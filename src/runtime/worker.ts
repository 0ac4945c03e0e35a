import type { TaskError } from '../core/compile/types.js';
import { LockstepError } from '../core/errors.js';
import type { EnvelopeOf } from '../core/protocol/envelope.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { Clock } from '../ports/clock.js';
import type { BatchContext, CompleteDeferred, ConsumedMessage, Subscription, TopicMessage, Transport } from '../ports/transport.js';
import { envelope } from './messages.js';

/** One dispatched attempt, as a worker sees it. */
export type DispatchedTask = EnvelopeOf<'task.dispatch'>;

/** Runs one attempt; the resolved value is the result, a rejection is a failure. */
export type Executor = (task: DispatchedTask, signal: AbortSignal) => Promise<unknown>;

/**
 * Marks an executor that takes its signal as a function and reads it only when needed: an `AbortController`
 * costs a few µs, more than the rest of a no-op step's work in the worker.
 */
export const LAZY_SIGNAL = Symbol('lockstep.lazySignal');

/** An executor that asks for its signal only when a task reads it. */
export type LazySignalExecutor = ((task: DispatchedTask, signal: () => AbortSignal) => Promise<unknown>) & { readonly [LAZY_SIGNAL]: true };

/** An attempt's cancellation, created on first use. */
class Cancellation {
  #controller: AbortController | undefined;
  readonly signal = (): AbortSignal => (this.#controller ??= new AbortController()).signal;
  abort(reason: unknown): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }
}

export interface WorkerOptions {
  readonly transport: Transport;
  readonly queue: string;
  readonly clock: Clock;
  readonly execute: Executor | LazySignalExecutor;
  /** @default 'lockstep' */
  readonly topicPrefix?: string;
  /** @default `lockstep-workers-<queue>` */
  readonly group?: string;
  /**
   * Stop an attempt of a run still running here when a later dispatch of that run arrives, and start the later one
   * once it has ended. For a transport that can deliver a run's old dispatch again after a rebalance (Kafka); an
   * in-process transport never does, and its runs' attempts are left as the orchestrator orders them.
   * @default false
   */
  readonly stopStaleAttempts?: boolean;
}

export interface WorkerStats {
  started: number;
  succeeded: number;
  failed: number;
  /** Dispatches of an attempt that was already running or done here, or followed by a later dispatch of its run in one batch. */
  duplicates: number;
  cancelled: number;
  /** Attempts stopped at shutdown without a report, for another worker to run. */
  handedBack: number;
}

/** A running worker. */
export interface WorkerHandle {
  readonly stats: WorkerStats;
  /** Attempts running now. */
  inFlight(): number;
  /**
   * Stops taking work. By default waits for the attempts in flight and reports them. `cancelInFlight` aborts
   * them and reports the cancellation. `handBack` (or `graceMs` running out) aborts them without reporting and
   * leaves them unacknowledged, so another worker of the queue receives them again (at least once).
   */
  close(options?: WorkerCloseOptions): Promise<void>;
}

/** How a worker stops. */
export interface WorkerCloseOptions {
  readonly cancelInFlight?: boolean;
  readonly handBack?: boolean;
  /** Waits this long for the attempts in flight, then hands the rest back. @default wait for all */
  readonly graceMs?: number;
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

/** An attempt running on this worker. */
interface RunningAttempt {
  readonly runId: string;
  readonly controller: Cancellation;
  readonly done: Promise<void>;
  readonly acks: CompleteDeferred[];
  /** Stopped for another worker to run: neither reported nor acknowledged. */
  handedBack: boolean;
  /** Stopped because a later dispatch of its run arrived: acknowledged, not reported (the run is past it). */
  superseded: boolean;
  /**
   * Stopped by a `task.cancel` (a timeout, a cancel): the run waits for its end, at most the stop grace, and may
   * then go on while it still runs. Its run's next dispatch does not wait for it either.
   */
  cancelled: boolean;
  readonly partition: number | undefined;
}

/**
 * The last dispatch of each run in a batch. A run has one attempt in flight at a time, and its commands keep
 * their order (keyed by run id): a dispatch followed by another of its run was finished or given up on.
 */
function latestDispatches(batch: readonly ConsumedMessage[]): Map<string, ConsumedMessage> {
  const latest = new Map<string, ConsumedMessage>();
  for (const message of batch) if (message.value?.type === 'task.dispatch') latest.set(message.value.runId, message);
  return latest;
}
/** Waits between attempts to publish an outcome the transport could not send. */
const PUBLISH_RETRY_MIN_MS = 100;
const PUBLISH_RETRY_MAX_MS = 1_000;

/**
 * Executes task attempts dispatched to a queue and reports each outcome as an event. Execution is at least
 * once: a dispatch is acknowledged only once its outcome is published (the transport's `defer`), so a worker
 * that dies mid-task loses nothing; a redelivered dispatch of an attempt already running here waits for it, and
 * one already finished here gets its recorded outcome again instead of a second execution. Across workers the
 * idempotency key (`<runId>:<taskId>:<attempt>`) lets handlers make their effects idempotent.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const topics = topicNames(options.topicPrefix);
  const stats: WorkerStats = { started: 0, succeeded: 0, failed: 0, duplicates: 0, cancelled: 0, handedBack: 0 };
  const running = new Map<string, RunningAttempt>();
  const completed = new Map<string, TopicMessage>();
  let closing = false;

  /**
   * Sends an outcome until it is out. A publish fails when the brokers stay unreachable longer than the client's
   * own retries; the dispatch is then still unacknowledged, but nothing delivers it to this worker again, so
   * giving up would leave its run waiting for ever. Gives up only once the worker is closing, or the transport
   * fails with a non-retriable error: the dispatch, never acknowledged, goes to the next worker of the queue.
   */
  const untilDelivered = async (send: () => Promise<void>): Promise<void> => {
    for (let delay = PUBLISH_RETRY_MIN_MS; ; delay = Math.min(delay * 2, PUBLISH_RETRY_MAX_MS)) {
      try {
        return await send();
      } catch (error) {
        // Retrying cannot help when the transport says so: it is closed, or the broker refuses the record for good.
        if (closing || (error instanceof LockstepError && !error.retriable)) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };

  /** Runs an attempt once `after` (the end of the attempts of its run it supersedes) has settled. */
  const run = (task: DispatchedTask, ack: CompleteDeferred | undefined, partition: number | undefined, after?: Promise<unknown>) => {
    const key = task.payload.idempotencyKey;
    const controller = new Cancellation();
    const acks = ack ? [ack] : [];
    stats.started++;
    const base = { runId: task.runId, taskId: task.taskId, attempt: task.attempt };
    const done = (async () => {
      let message: TopicMessage;
      await after;
      try {
        const execute = options.execute;
        const result = await (LAZY_SIGNAL in execute ? execute(task, controller.signal) : execute(task, controller.signal()));
        message = {
          topic: topics.events,
          key: task.runId,
          value: envelope({ type: 'task.succeeded', ...base, payload: result === undefined ? {} : { result } }, options.clock.now()),
        };
      } catch (error) {
        message = {
          topic: topics.events,
          key: task.runId,
          value: envelope({ type: 'task.failed', ...base, payload: { error: toTaskError(error) } }, options.clock.now()),
        };
      }
      const entry = running.get(key);
      running.delete(key);
      // Handed back: not reported and not acknowledged, so the dispatch is delivered again elsewhere.
      if (entry?.handedBack) {
        stats.handedBack++;
        return;
      }
      if (entry?.superseded) {
        await Promise.all(acks.map((a) => a([]).catch(() => {})));
        return;
      }
      if (message.value?.type === 'task.succeeded') stats.succeeded++;
      else stats.failed++;
      completed.set(key, message);
      if (completed.size > COMPLETED_MEMORY) completed.delete(completed.keys().next().value!);
      const deliver = async (m: TopicMessage) => {
        if (acks.length === 0) await untilDelivered(() => options.transport.publish([m]));
        else await Promise.all(acks.map((a, i) => untilDelivered(() => a(i === 0 ? [m] : []))));
      };
      try {
        try {
          await deliver(message);
        } catch (error) {
          if (closing || !(error instanceof LockstepError) || error.retriable) throw error;
          // The outcome itself cannot be published (a result over the topic's limit): the attempt fails, for good.
          const failure = { message: `its outcome could not be published: ${error.message}`, code: error.code, retriable: false };
          message = {
            topic: topics.events,
            key: task.runId,
            value: envelope({ type: 'task.failed', ...base, payload: { error: failure } }, options.clock.now()),
          };
          completed.set(key, message);
          await deliver(message);
        }
      } catch {
        completed.delete(key);
      }
    })();
    running.set(key, { runId: task.runId, controller, done, acks, handedBack: false, superseded: false, cancelled: false, partition });
  };

  const handle = async (batch: readonly ConsumedMessage[], context?: BatchContext): Promise<TopicMessage[]> => {
    const replies: TopicMessage[] = [];
    const latest = latestDispatches(batch);
    for (const message of batch) {
      const env = message.value;
      if (!env) continue;
      if (env.type === 'task.dispatch') {
        const key = env.payload.idempotencyKey;
        const earlier = completed.get(key);
        const current = running.get(key);
        if (latest.get(env.runId) !== message && !current && !earlier) {
          // A later dispatch of the run follows in this batch: the orchestrator was done with this attempt when it
          // sent it, so this is a redelivery (an uncommitted position taken over after a rebalance). Running it
          // now would overlap the next task of the run; it is acknowledged with the batch instead.
          stats.duplicates++;
        } else if (current) {
          // Acknowledged together with the attempt already running here.
          stats.duplicates++;
          const ack = context?.defer(message);
          if (ack) current.acks.push(ack);
        } else if (earlier) {
          stats.duplicates++;
          replies.push(earlier);
        } else if (closing)
          context?.defer(message); // never completed: handed back to the next worker
        else {
          // An earlier attempt of the run still running here is stale: the orchestrator dispatches a run's next
          // attempt only once it is past the last one (a redelivery after a rebalance ran it again here). It is
          // stopped, and this one starts once it has ended, so the two never overlap. One the orchestrator stopped
          // itself (cancelled) is its decision: it went on once that attempt ended or its stop grace ran out.
          const stale = options.stopStaleAttempts
            ? [...running.values()].filter((r) => r.runId === env.runId && !r.handedBack && !r.cancelled)
            : [];
          for (const r of stale) {
            stats.duplicates++;
            r.superseded = true;
            r.controller.abort(`a later dispatch of run ${env.runId} arrived: this attempt is stale`);
          }
          run(env, context?.defer(message), message.partition, stale.length > 0 ? Promise.all(stale.map((r) => r.done)) : undefined);
        }
      } else if (env.type === 'task.cancel') {
        const key = `${env.runId}:${env.taskId}:${env.attempt}`;
        const attempt = running.get(key);
        if (attempt) {
          stats.cancelled++;
          attempt.cancelled = true;
          attempt.controller.abort(env.payload.reason);
        }
      }
    }
    return replies;
  };

  /**
   * Partitions moved to another worker: their attempts stop here, unreported and unacknowledged, so the new owner
   * runs them again; it waits until they have ended here (resolved), so the two never overlap.
   */
  const onRevoked = async (partitions: readonly number[]): Promise<void> => {
    const moved = new Set(partitions);
    const stopping = [...running.values()].filter((r) => r.partition !== undefined && moved.has(r.partition));
    for (const r of stopping) {
      r.handedBack = true;
      r.controller.abort('its partition moved to another worker: attempt handed back');
    }
    await Promise.all(stopping.map((r) => r.done));
  };

  const subscription: Subscription = await options.transport.subscribe(
    {
      topic: topics.commands(options.queue),
      group: options.group ?? `lockstep-workers-${options.queue}`,
      delivery: 'at-least-once',
      onRevoked,
    },
    handle,
  );

  return {
    stats,
    inFlight: () => running.size,
    async close({ cancelInFlight = false, handBack = false, graceMs }: WorkerCloseOptions = {}) {
      closing = true;
      const handOver = () => {
        for (const r of running.values()) {
          r.handedBack = true;
          r.controller.abort('worker shutting down: attempt handed back');
        }
      };
      if (handBack) handOver();
      else if (cancelInFlight) for (const r of running.values()) r.controller.abort('worker shutting down');
      const all = Promise.all([...running.values()].map((r) => r.done));
      if (graceMs === undefined) await all;
      else {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = await Promise.race([
          all.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
        ]);
        clearTimeout(timer);
        if (expired) {
          handOver();
          await all;
        }
      }
      // Last: outcomes of finished attempts were acknowledged while the subscription was still open.
      await subscription.close();
    },
  };
}
