import type { z } from 'zod';
import type { RunContext, RunEvent } from '../compile/types.js';
import { ErrorCode, LockstepError } from '../errors.js';
import type { Problem } from '../sequence/problems.js';
import { formatProblems, problemsFromIssues } from '../sequence/problems.js';
import type { WaitSpec } from '../sequence/types.js';
import { signalSchemaOf } from '../sequence/wait.js';
import type { Program } from '../step.js';
import { findSpec } from './live-run.js';

/**
 * A signal for a run's wait task: its data (the task's result), or a rejection with a reason. The same shape comes
 * from `lockstep signal`, `POST /api/runs/:id/tasks/:task/signal`, `client.signal` and a `task.signal` event.
 */
export interface Signal {
  readonly taskId: string;
  readonly data?: unknown;
  /** Set for a rejection: the task fails for good with this reason (compensations run under `onFailure: stop`). */
  readonly reject?: string;
}

const checkers = new WeakMap<WaitSpec, z.ZodType | undefined>();

function checkerOf(wait: Extract<WaitSpec, { for: 'signal' }>): z.ZodType | undefined {
  if (!checkers.has(wait)) {
    const compiled = wait.schema ? signalSchemaOf(wait.schema) : undefined;
    checkers.set(wait, compiled && 'check' in compiled ? compiled.check : undefined);
  }
  return checkers.get(wait);
}

/**
 * Every problem of a signal for a run of `program`, with its path: a task that is not a signal wait, a rejection
 * without a reason or with data, data that does not match the task's schema. A signal with problems is refused
 * whole: nothing of it is recorded.
 */
export function signalProblems(program: Program, signal: Signal): Problem[] {
  const spec = findSpec(program, signal.taskId);
  if (!spec) return [{ path: 'taskId', message: `sequence ${program.sequence.name} has no task "${signal.taskId}"` }];
  if (spec.action.kind !== 'wait' || spec.action.wait.for !== 'signal') {
    return [{ path: 'taskId', message: `task "${signal.taskId}" does not wait for a signal` }];
  }
  if (signal.reject !== undefined) {
    const problems: Problem[] = [];
    if (typeof signal.reject !== 'string' || signal.reject.trim() === '')
      problems.push({ path: 'reject', message: 'expected a reason: a non-empty string' });
    if (signal.data !== undefined) problems.push({ path: 'data', message: 'a rejection carries a reason, not data' });
    return problems;
  }
  const check = checkerOf(spec.action.wait);
  if (!check) return [];
  const parsed = check.safeParse(signal.data);
  if (parsed.success) return [];
  return problemsFromIssues(parsed.error.issues, signal.data).map((p) => ({
    path: p.path === '(root)' || p.path === '' ? 'data' : `data.${p.path}`,
    message: p.message,
  }));
}

/** Where a run stands with the wait a signal names. */
export type SignalStanding =
  /** The task's attempt is waiting: the signal ends it. */
  | { readonly kind: 'waiting'; readonly attempt: number }
  /** The task has waited and ended (a signal, a rejection, a timeout): a signal now is a duplicate. */
  | { readonly kind: 'resolved'; readonly attempt: number }
  /** The run has not reached the task yet (or is in its backoff before asking again). */
  | { readonly kind: 'not-yet' };

/** What tells where a run stands with a wait: its machine context, or the facts of its history. */
export type SignalView = Pick<RunContext, 'current' | 'attempts' | 'completed' | 'continued'> & {
  readonly error: { readonly taskId: string } | null;
};

/** Where the run of `context` stands with the signal wait `taskId`. */
export function signalStanding(context: SignalView, taskId: string): SignalStanding {
  const current = context.current;
  if (current?.taskId === taskId) return { kind: 'waiting', attempt: current.attempt };
  const attempts = context.attempts[taskId] ?? 0;
  const ended = context.completed.includes(taskId) || context.continued.includes(taskId) || context.error?.taskId === taskId;
  return attempts > 0 && ended ? { kind: 'resolved', attempt: attempts } : { kind: 'not-yet' };
}

/**
 * The event a signal (without problems) is for the run as it stands: the completion of the waiting attempt, its
 * data the result, or for a rejection its non-retriable failure. A signal for a wait that has already ended is the
 * same completion of that attempt, which the run ignores as a duplicate; one for a wait not reached yet names the
 * next attempt, which the run ignores as unexpected.
 */
export function signalEvent(context: SignalView, signal: Signal): RunEvent {
  const standing = signalStanding(context, signal.taskId);
  const attempt = standing.kind === 'not-yet' ? (context.attempts[signal.taskId] ?? 0) + 1 : standing.attempt;
  if (signal.reject !== undefined) {
    return {
      type: 'TASK_FAILED',
      taskId: signal.taskId,
      attempt,
      error: { message: `rejected: ${signal.reject}`, code: ErrorCode.signalRejected, retriable: false },
    };
  }
  return { type: 'TASK_SUCCEEDED', taskId: signal.taskId, attempt, ...(signal.data === undefined ? {} : { result: signal.data }) };
}

/**
 * Why a surface (the CLI, the API, the client) refuses a signal before recording anything, or `undefined` when it
 * may record it: the signal's problems (`INVALID_SIGNAL`), a run that has ended (`RUN_ENDED`), a wait the run has
 * not reached (`NOT_WAITING`). A signal for a wait that has already ended is accepted: the run ignores it as a
 * duplicate, and counts it.
 */
export function signalRefusal(
  program: Program,
  run: { readonly runId: string; readonly status: string; readonly view: SignalView },
  signal: Signal,
): LockstepError | undefined {
  const problems = signalProblems(program, signal);
  if (problems.length > 0) return new InvalidSignalError(problems);
  if (run.status !== 'running') return new LockstepError(ErrorCode.runEnded, `run ${run.runId} already ended: ${run.status}`);
  if (signalStanding(run.view, signal.taskId).kind === 'not-yet') {
    const at = run.view.current ? `it is at ${run.view.current.taskId}` : 'it is between tasks';
    return new LockstepError(
      ErrorCode.notWaiting,
      `run ${run.runId} is not waiting for ${signal.taskId} yet (${at}): nothing was recorded`,
    );
  }
  return undefined;
}

/** A signal refused for its problems, every one with its path (`data.approver: required`). */
export class InvalidSignalError extends LockstepError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super(ErrorCode.invalidSignal, `invalid signal: nothing was recorded\n${formatProblems(problems)}`);
    this.name = 'InvalidSignalError';
    this.problems = problems;
  }
}
