import { ErrorCode, LockstepError } from '../core/errors.js';
import { findSpec } from '../core/run/live-run.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import { DEFAULT_LIMITS } from '../core/sequence/limits.js';
import type { TaskContext, TaskHandler } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import type { AttemptProcessTracker } from '../ports/attempt-processes.js';
import { attemptTracking } from './attempt-tracking.js';
import { shellEnvironment, writeAttemptFiles } from './shell-data.js';
import { runShellTask } from './shell-task.js';
import type { DispatchedTask, LazySignalExecutor } from './worker.js';
import { LAZY_SIGNAL } from './worker.js';

export interface LocalExecutorOptions {
  readonly registry: ProgramRegistry;
  /**
   * Finds the program a dispatched task belongs to. @default {@link registeredProgram}: the definition the
   * dispatch names by hash when the registry knows it, else the sequence at its version
   */
  readonly programOf?: (task: DispatchedTask) => Program | Promise<Program>;
  /**
   * The function that runs a `queue` task here, if any: consulted before `queueHandlers` (Kafka workers find a
   * function task of a sequence compiled from its structure this way).
   */
  readonly handlerOf?: (task: DispatchedTask, queue: string) => TaskHandler | undefined;
  /** Handlers for `queue` tasks when they run in-process, by queue name. */
  readonly queueHandlers?: Readonly<Record<string, TaskHandler>>;
  /** Receives each line a shell task prints. */
  readonly onOutput?: (task: DispatchedTask, stream: 'stdout' | 'stderr', line: string) => void;
  /** Working directory of shell tasks without `cwd`. */
  readonly cwd?: string;
  /** Told of each shell attempt's process group while it runs, so a crash leaves a record of it. */
  readonly attemptProcesses?: AttemptProcessTracker;
  /**
   * Whether shell attempts are stopped should this process die (see `ShellTaskRequest.lifeline`). false leaves an
   * orphaned attempt to `attemptProcesses` and `resume`. @default true
   */
  readonly lifeline?: boolean;
}

/** The context handed to an in-process handler; `signal` may be given as a function, called when first read. */
export function taskContext(task: DispatchedTask, signal: AbortSignal | (() => AbortSignal)): TaskContext {
  const base = {
    runId: task.runId,
    taskId: task.taskId,
    attempt: task.attempt,
    idempotencyKey: task.payload.idempotencyKey,
    phase: task.payload.phase,
    input: task.payload.input,
    results: task.payload.results,
    ...(task.payload.traceparent ? { traceparent: task.payload.traceparent } : {}),
  };
  if (typeof signal !== 'function') return { ...base, signal };
  return Object.defineProperty(base, 'signal', { get: signal, enumerable: true }) as TaskContext;
}

/**
 * The registered program of a dispatched task: the definition it names by hash when the registry knows it (the
 * one its run started with), else the sequence at its version (dispatches of lockstep versions that sent no hash).
 */
export function registeredProgram(registry: ProgramRegistry, task: DispatchedTask): Program {
  const { sequence, version, definitionHash } = task.payload;
  const pinned = definitionHash === undefined ? undefined : registry.byHash(definitionHash);
  return (pinned ?? registry.resolve(sequence, version)).program;
}

/** Executes tasks in this process: builder handlers, shell commands, and queue tasks that have a local handler. */
export function createLocalExecutor(options: LocalExecutorOptions): LazySignalExecutor {
  const programOf = options.programOf ?? ((task: DispatchedTask) => registeredProgram(options.registry, task));
  const execute = async (task: DispatchedTask, signal: () => AbortSignal): Promise<unknown> => {
    const program = await programOf(task);
    const spec = findSpec(program, task.taskId);
    if (!spec) throw new LockstepError(ErrorCode.noHandler, `sequence ${program.sequence.name} has no task "${task.taskId}"`);
    const action = spec.action;
    if (action.kind === 'handler') return action.handler(taskContext(task, signal));
    if (action.kind === 'queue') {
      const handler = options.handlerOf?.(task, action.queue) ?? options.queueHandlers?.[action.queue];
      if (!handler) {
        throw new LockstepError(
          ErrorCode.noHandler,
          `task "${task.taskId}" runs on queue "${action.queue}", which has no worker in embedded mode (use Kafka mode, or register a handler for the queue)`,
        );
      }
      return handler(taskContext(task, signal));
    }
    const data = { ...taskContext(task, signal()), phase: task.payload.phase };
    const files = await writeAttemptFiles(data);
    try {
      const env = shellEnvironment(data, action.env, files);
      const cwd = action.cwd ?? options.cwd;
      const onOutput = options.onOutput;
      const tracking = attemptTracking(options.attemptProcesses, task);
      const { result } = await tracking.settle(
        runShellTask({
          run: action.run,
          env,
          signal: tracking.signal(signal()),
          ...(cwd ? { cwd } : {}),
          taskId: task.taskId,
          resultFile: files.result,
          attemptDir: files.dir,
          resultBytes: (spec.limits ?? DEFAULT_LIMITS).resultBytes,
          ...(options.lifeline === false ? { lifeline: false } : {}),
          onStart: (group) => {
            // A sweep after this process died keeps the directory while the group runs.
            files.started(group.pgid);
            tracking.request.onStart?.(group);
          },
          ...(onOutput ? { onOutput: (stream, line) => onOutput(task, stream, line) } : {}),
        }),
      );
      return result;
    } finally {
      await files.remove().catch(() => {}); // a leftover temp directory must not turn a result into a failure
    }
  };
  return Object.assign(execute, { [LAZY_SIGNAL]: true as const });
}
