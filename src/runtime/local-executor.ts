import { ErrorCode, LockstepError } from '../core/errors.js';
import { findSpec } from '../core/run/live-run.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import { DEFAULT_LIMITS } from '../core/sequence/limits.js';
import type { TaskContext, TaskHandler } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import type { AttemptLogSink } from '../ports/attempt-logs.js';
import type { AttemptProcessTracker } from '../ports/attempt-processes.js';
import type { Clock } from '../ports/clock.js';
import { AttemptLogWriter } from './attempt-log.js';
import { attemptTracking } from './attempt-tracking.js';
import { shellEnvironment, writeAttemptFiles } from './shell-data.js';
import { runShellTask } from './shell-task.js';
import { systemClock } from './system-clock.js';
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
  /**
   * Where each attempt's log goes: its shell output and its handler's `ctx.log` lines. The attempt's outcome is
   * reported only once its log is stored. Without it, `ctx.log` writes nowhere.
   */
  readonly logs?: AttemptLogSink;
  /** The cap of each attempt's log, in bytes of line text. @default {@link DEFAULT_LOG_BYTES} (1 MiB) */
  readonly logBytes?: number;
  /** Told when an attempt's log cannot be stored; the attempt goes on, and the rest of its log is dropped. */
  readonly onLogError?: (task: DispatchedTask, error: unknown) => void;
  /** Stamps log lines. @default the system clock */
  readonly clock?: Clock;
}

const noLog = (): void => {};

/** The context handed to an in-process handler; `signal` may be given as a function, called when first read. */
export function taskContext(
  task: DispatchedTask,
  signal: AbortSignal | (() => AbortSignal),
  log: (...args: unknown[]) => void = noLog,
): TaskContext {
  const base = {
    log,
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

/** Where an attempt's log goes: see {@link LocalExecutorOptions.logs}. */
export type AttemptLogOptions = Pick<LocalExecutorOptions, 'logs' | 'logBytes' | 'onLogError' | 'clock'>;

/**
 * Runs an attempt with its log: `run` gets the attempt's log writer (none without `logs`), and the attempt ends
 * only once its log is stored (or given up), so its outcome is never reported before its log.
 */
export async function loggedAttempt<T>(
  task: DispatchedTask,
  options: AttemptLogOptions,
  run: (log: AttemptLines | undefined) => Promise<T>,
): Promise<T> {
  const { logs, onLogError } = options;
  if (!logs) return run(undefined);
  // Made on the first line: an attempt that logs nothing (most function tasks) costs no writer.
  let writer: AttemptLogWriter | undefined;
  const open = () =>
    (writer ??= new AttemptLogWriter(
      { runId: task.runId, task: task.taskId, attempt: task.attempt, phase: task.payload.phase },
      {
        sink: logs,
        clock: options.clock ?? systemClock,
        ...(options.logBytes === undefined ? {} : { capBytes: options.logBytes }),
        ...(onLogError ? { onError: (error: unknown) => onLogError(task, error) } : {}),
      },
    ));
  try {
    return await run({ write: (stream, text) => open().write(stream, text), log: (...args) => open().log(...args) });
  } finally {
    if (writer) await writer.close();
  }
}

/** What an attempt writes its log with. */
export type AttemptLines = Pick<AttemptLogWriter, 'write' | 'log'>;

/** The `ctx.log` of an attempt. */
export const logOf = (log: AttemptLines | undefined): ((...args: unknown[]) => void) => log?.log ?? noLog;

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
  const execute = (task: DispatchedTask, signal: () => AbortSignal): Promise<unknown> =>
    loggedAttempt(task, options, (log) => attempt(task, signal, log));
  const attempt = async (task: DispatchedTask, signal: () => AbortSignal, log: AttemptLines | undefined): Promise<unknown> => {
    const writeLog = logOf(log);
    const program = await programOf(task);
    const spec = findSpec(program, task.taskId);
    if (!spec) throw new LockstepError(ErrorCode.noHandler, `sequence ${program.sequence.name} has no task "${task.taskId}"`);
    const action = spec.action;
    // The orchestrator never dispatches a wait: reaching here is a bug, never a wait skipped.
    if (action.kind === 'wait') throw new LockstepError(ErrorCode.noHandler, `task "${task.taskId}" is a wait: nothing runs it`);
    if (action.kind === 'handler') return action.handler(taskContext(task, signal, writeLog));
    if (action.kind === 'queue') {
      const handler = options.handlerOf?.(task, action.queue) ?? options.queueHandlers?.[action.queue];
      if (!handler) {
        throw new LockstepError(
          ErrorCode.noHandler,
          `task "${task.taskId}" runs on queue "${action.queue}", which has no worker in embedded mode (use Kafka mode, or register a handler for the queue)`,
        );
      }
      return handler(taskContext(task, signal, writeLog));
    }
    const data = { ...taskContext(task, signal()), phase: task.payload.phase };
    const files = await writeAttemptFiles(data);
    try {
      const env = shellEnvironment(data, action.env, files);
      const cwd = action.cwd ?? options.cwd;
      const display = options.onOutput;
      const onOutput =
        display || log
          ? (stream: 'stdout' | 'stderr', line: string) => {
              log?.write(stream, line);
              display?.(task, stream, line);
            }
          : undefined;
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
          ...(onOutput ? { onOutput } : {}),
        }),
      );
      return result;
    } finally {
      await files.remove().catch(() => {}); // a leftover temp directory must not turn a result into a failure
    }
  };
  return Object.assign(execute, { [LAZY_SIGNAL]: true as const });
}
