import { randomUUID } from 'node:crypto';
import { KafkaTransport } from '../../adapters/kafka/index.js';
import type { TaskError } from '../../core/compile/types.js';
import { TaskFailure } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import type { Sequence, TaskHandler } from '../../core/sequence/types.js';
import type { Clock } from '../../ports/clock.js';
import type { TopicMessage, Transport } from '../../ports/transport.js';
import type { AttemptLogOptions } from '../../runtime/local-executor.js';
import { loggedAttempt, logOf, taskContext } from '../../runtime/local-executor.js';
import { envelope } from '../../runtime/messages.js';
import { systemClock } from '../../runtime/system-clock.js';
import type { Executor, LazySignalExecutor, WorkerHandle, WorkerStats } from '../../runtime/worker.js';
import { startWorker } from '../../runtime/worker.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka, topicPrefix } from './connection.js';
import { LogTopic } from './log-topic.js';
import { codeQueues, kafkaExecutor, namedHandler } from './worker-executors.js';

/**
 * Task handlers by task id. A key `<sequence>/<taskId>` wins over a bare task id, and `*` catches the rest.
 *
 * @example { 'charge-card': async (ctx) => payments.charge(ctx.input, { idempotencyKey: ctx.idempotencyKey }) }
 */
export type WorkerHandlers = Readonly<Record<string, TaskHandler>>;

/** Options of {@link createWorker}. */
export interface KafkaWorkerOptions extends KafkaModeOptions {
  /**
   * The queue to take tasks from: `<prefix>.commands.<queue>`. Shell tasks, and function tasks that name no queue,
   * use `default`. @default with `sequences`, every queue their function and shell tasks use; else required
   */
  readonly queue?: string;
  /**
   * Sequences made in code (`sequence(...).build()`) whose tasks this worker runs: their functions, and their shell
   * commands, each from the definition its run started with. Give the orchestrators the same sequences.
   */
  readonly sequences?: readonly Sequence[];
  /** What runs each task; see {@link WorkerHandlers}. With `sequences`, it runs the queue tasks they have no function for. */
  readonly handlers?: WorkerHandlers;
  /** Runs each task instead of `handlers`; a {@link LazySignalExecutor} gets its signal only when it reads it. */
  readonly execute?: Executor | LazySignalExecutor;
  /** Working directory of shell tasks without `cwd`. @default the process's */
  readonly cwd?: string;
  /** Workers of one queue sharing a group split its partitions. @default '<prefix>-workers-<queue>' */
  readonly group?: string;
  /** @default the system clock */
  readonly clock?: Clock;
  readonly onLog?: (message: string, extra?: Record<string, unknown>) => void;
  /**
   * The cap of each attempt's log on the log topic (`<prefix>.logs`: shell output and `ctx.log` lines), in bytes of
   * line text. @default 1 MiB
   */
  readonly logBytes?: number;
}

/** A running Kafka worker. `close()` waits for the attempts in flight; see {@link WorkerHandle.close}. */
export interface KafkaWorker extends WorkerHandle {
  readonly transport: KafkaTransport;
  /** The queues it takes tasks from. */
  readonly queues: readonly string[];
}

/** An executor that calls the handler registered for a task. */
export function handlerExecutor(handlers: WorkerHandlers, logs: AttemptLogOptions = {}): Executor {
  return async (task, signal) => {
    const handler = namedHandler(handlers, task);
    if (!handler)
      throw new TaskFailure(`no handler for task "${task.taskId}" of ${task.payload.sequence} on queue ${task.payload.queue}`, {
        retriable: false,
        type: 'NoHandler',
      });
    return loggedAttempt(task, logs, async (log) => handler(taskContext(task, signal, logOf(log))));
  };
}

/**
 * Starts a worker that takes tasks from a queue over Kafka and reports their outcomes. Execution is at least
 * once: a dispatch is acknowledged only after its outcome is published, so a worker that dies mid-task loses
 * nothing (another worker runs the attempt again, with the same idempotency key). A `task.cancel` aborts the
 * handler's `ctx.signal`. On shutdown, `close({ graceMs })` lets running tasks finish, then hands the rest back.
 *
 * With `sequences`, it runs the function and shell tasks of those sequences made in code, on their queues.
 *
 * @throws TaskFailure (the promise rejects) when it is given nothing to run, or no queue to take it from.
 */
export async function createWorker(options: KafkaWorkerOptions): Promise<KafkaWorker> {
  const { sequences } = options;
  if (sequences?.length) {
    if (options.execute)
      throw new TaskFailure('createWorker: give `sequences` (their tasks run here) or `execute`, not both', { retriable: false });
    const registry = new ProgramRegistry();
    for (const sequence of sequences) registry.registerSequence(sequence);
    const queues = options.queue ? [options.queue] : codeQueues(sequences);
    if (queues.length === 0)
      throw new TaskFailure(
        'createWorker: the sequences have no function or shell task to run: give `queue` and `handlers` for their queue tasks',
        { retriable: false },
      );
    return startKafkaWorker(options, queues, (transport, prefix, logs) =>
      kafkaExecutor({
        transport,
        prefix,
        logs,
        registry,
        ...(options.handlers ? { handlers: options.handlers } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
        ...(options.onLog ? { onLog: options.onLog } : {}),
      }),
    );
  }
  const { execute, handlers } = options;
  if (!execute && !handlers) throw new TaskFailure('createWorker needs sequences, handlers or execute', { retriable: false });
  if (!options.queue)
    throw new TaskFailure('createWorker needs the queue to take tasks from (or sequences, whose queues it takes)', { retriable: false });
  return startKafkaWorker(options, [options.queue], (_transport, _prefix, logs) => execute ?? handlerExecutor(handlers!, logs));
}

/**
 * A worker that runs the shell tasks of the given sequences (what `lockstep worker` runs), each from the exact
 * definition its run started with: the dispatch names it by hash, and the worker finds it in `registry` or on the
 * definitions topic, so a file edited under the same version does not change the tasks of runs in flight.
 */
export function createShellWorker(
  options: Omit<KafkaWorkerOptions, 'handlers' | 'execute' | 'sequences'> & { registry: ProgramRegistry; queue: string },
): Promise<KafkaWorker> {
  return startKafkaWorker(options, [options.queue], (transport, prefix, logs) =>
    kafkaExecutor({
      transport,
      prefix,
      logs,
      registry: options.registry,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    }),
  );
}

/** Connects, and takes tasks from each of `queues` with the executor made for the connection. */
async function startKafkaWorker(
  options: KafkaWorkerOptions,
  queues: readonly string[],
  executorFor: (transport: KafkaTransport, prefix: string, logs: AttemptLogOptions) => Executor | LazySignalExecutor,
): Promise<KafkaWorker> {
  const resolved = resolveKafka(options);
  const prefix = resolved.prefix;
  const transport = new KafkaTransport({
    ...resolved,
    clientId: options.clientId ?? `lockstep-worker-${queues.join('+')}-${randomUUID().slice(0, 8)}`,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  const handles: WorkerHandle[] = [];
  try {
    const onLog = options.onLog;
    const logs: AttemptLogOptions = {
      logs: new LogTopic(transport, prefix),
      ...(options.logBytes === undefined ? {} : { logBytes: options.logBytes }),
      ...(options.clock ? { clock: options.clock } : {}),
      // A log that cannot be shipped is dropped; the attempt and its outcome go on.
      onLogError: (task, error) => {
        const why = `the log of run ${task.runId} task "${task.taskId}" attempt ${task.attempt} is incomplete: ${(error as Error).message}`;
        if (onLog) onLog(why, { runId: task.runId });
        else process.emitWarning(why);
      },
    };
    const execute = executorFor(transport, prefix, logs);
    for (const queue of queues) {
      handles.push(
        await startWorker({
          transport,
          queue,
          clock: options.clock ?? systemClock,
          execute,
          topicPrefix: prefix,
          // A group given for one queue is that queue's; several queues each have their own.
          group: options.group && queues.length === 1 ? options.group : `${prefix}-workers-${queue}`,
          // After a rebalance a partition's new owner may be handed a run's old dispatch again.
          stopStaleAttempts: true,
        }),
      );
    }
  } catch (error) {
    await Promise.all(handles.map((h) => h.close({ handBack: true }).catch(() => {})));
    await transport.close().catch(() => {});
    throw error;
  }
  return {
    transport,
    queues,
    stats: handles.length === 1 ? handles[0]!.stats : sumStats(handles),
    inFlight: () => handles.reduce((n, h) => n + h.inFlight(), 0),
    async close(closeOptions) {
      await Promise.all(handles.map((h) => h.close(closeOptions)));
      await transport.close();
    },
  };
}

/** The counters of several queues' workers, added up whenever read. */
function sumStats(handles: readonly WorkerHandle[]): WorkerStats {
  const sum = (key: keyof WorkerStats) => handles.reduce((n, h) => n + h.stats[key], 0);
  const stats = {} as WorkerStats;
  for (const key of ['started', 'succeeded', 'failed', 'duplicates', 'cancelled', 'handedBack'] as const) {
    Object.defineProperty(stats, key, { get: () => sum(key), enumerable: true });
  }
  return stats;
}

/** Which attempt a task event reports on (from its `task.dispatch`). */
export interface TaskAttempt {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
}

/** What an attempt came to: a result, or an error. */
export type TaskOutcome = { readonly result?: unknown } | { readonly error: TaskError };

/** The `task.succeeded` or `task.failed` message for an attempt, keyed by run id, for the events topic. */
export function taskEventMessage(
  attempt: TaskAttempt,
  outcome: TaskOutcome,
  options: { prefix?: string; now?: number; causationId?: string } = {},
): TopicMessage {
  const base = {
    runId: attempt.runId,
    taskId: attempt.taskId,
    attempt: attempt.attempt,
    ...(options.causationId ? { causationId: options.causationId } : {}),
  };
  const now = options.now ?? Date.now();
  const value =
    'error' in outcome
      ? envelope({ type: 'task.failed', ...base, payload: { error: outcome.error } }, now)
      : envelope({ type: 'task.succeeded', ...base, payload: outcome.result === undefined ? {} : { result: outcome.result } }, now);
  return { topic: topicNames(options.prefix).events, key: attempt.runId, value };
}

/**
 * Reports an attempt's outcome without the worker SDK: for services that receive dispatches their own way. Pass
 * a `transport` to reuse its connection; otherwise one is opened and closed for this call.
 *
 * @example await emitTaskEvent({ brokers }, { runId, taskId: 'ship', attempt: 1 }, { result: { tracking: 'X1' } })
 */
export async function emitTaskEvent(
  options: KafkaModeOptions & { transport?: Transport },
  attempt: TaskAttempt,
  outcome: TaskOutcome,
): Promise<void> {
  if (options.transport) return options.transport.publish([taskEventMessage(attempt, outcome, { prefix: topicPrefix(options.prefix) })]);
  const resolved = resolveKafka(options);
  const message = taskEventMessage(attempt, outcome, { prefix: resolved.prefix });
  const transport = new KafkaTransport(resolved);
  try {
    await transport.publish([message]);
  } finally {
    await transport.close();
  }
}
