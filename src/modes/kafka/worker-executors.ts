import { TaskFailure } from '../../core/errors.js';
import { findSpec } from '../../core/run/live-run.js';
import type { ProgramRegistry } from '../../core/run/registry.js';
import { DEFAULT_QUEUE } from '../../core/sequence/queues.js';
import type { Sequence, TaskHandler } from '../../core/sequence/types.js';
import type { DurableLog } from '../../ports/transport.js';
import type { AttemptLogOptions } from '../../runtime/local-executor.js';
import { createLocalExecutor } from '../../runtime/local-executor.js';
import type { DispatchedTask, LazySignalExecutor } from '../../runtime/worker.js';
import { DefinitionsTopic } from './definitions-topic.js';
import { pinnedProgramOf } from './pinned-definitions.js';

/** Task handlers by task id; see `WorkerHandlers`. */
type Handlers = Readonly<Record<string, TaskHandler>>;

/** The handler `handlers` has for a task: `<sequence>/<taskId>`, else `<taskId>`, else `*`. */
export function namedHandler(handlers: Handlers | undefined, task: DispatchedTask): TaskHandler | undefined {
  return handlers?.[`${task.payload.sequence}/${task.taskId}`] ?? handlers?.[task.taskId] ?? handlers?.['*'];
}

/**
 * The queues whose tasks a worker with the code of `sequences` can run: each function task's queue, and `default`
 * for their shell tasks. Queue tasks are other services' work.
 */
export function codeQueues(sequences: readonly Sequence[]): string[] {
  const queues = new Set<string>();
  for (const sequence of sequences) {
    for (const task of [...sequence.tasks, ...sequence.finally]) {
      for (const spec of [task, task.compensate]) {
        if (spec?.action.kind === 'handler') queues.add(spec.action.queue ?? DEFAULT_QUEUE);
        else if (spec?.action.kind === 'shell') queues.add(DEFAULT_QUEUE);
      }
    }
  }
  return [...queues].sort();
}

/** What runs a Kafka worker's tasks. */
export interface KafkaExecutorOptions {
  readonly transport: DurableLog;
  readonly prefix: string;
  /** The sequences whose tasks this worker runs (from files, or made in code). */
  readonly registry: ProgramRegistry;
  /** Handlers for the queue tasks no sequence here has a function for. */
  readonly handlers?: Handlers;
  readonly cwd?: string;
  readonly onLog?: (message: string, extra?: Record<string, unknown>) => void;
  /** Where attempts' logs go (the log topic), with their cap. */
  readonly logs?: AttemptLogOptions;
}

/**
 * Runs the tasks of a registry's sequences on a Kafka worker: shell commands and functions, each from the exact
 * definition its run started with (by the dispatch's hash: here, or on the definitions topic).
 *
 * A function is code, which a definition only names by its queue: a definition compiled from its structure has a
 * queue task where the code has a function, and the worker runs the function of that task in its own code of the
 * sequence at that version, or else a handler from `handlers`.
 */
export function kafkaExecutor(options: KafkaExecutorOptions): LazySignalExecutor {
  const { registry, handlers } = options;
  const definitions = new DefinitionsTopic(options.transport, options.prefix, options.onLog);
  const codeOf = (task: DispatchedTask): TaskHandler | undefined => {
    let program;
    try {
      program = registry.resolve(task.payload.sequence, task.payload.version).program;
    } catch {
      return undefined;
    }
    const action = findSpec(program, task.taskId)?.action;
    return action?.kind === 'handler' ? action.handler : undefined;
  };
  return createLocalExecutor({
    registry,
    programOf: pinnedProgramOf(registry, definitions),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...options.logs,
    handlerOf: (task, queue) => {
      const handler = codeOf(task) ?? namedHandler(handlers, task);
      if (handler) return handler;
      throw new TaskFailure(
        `no handler for task "${task.taskId}" of ${task.payload.sequence} v${task.payload.version} on queue ${queue}: ` +
          "run it on a worker with the sequence's code (createWorker({ sequences })) or a handler for it",
        { retriable: false, type: 'NoHandler' },
      );
    },
  });
}
