import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { Envelope } from '../../core/protocol/envelope.js';
import { assertRunId } from '../../core/protocol/partition-offset.js';
import type { Signal, SignalView } from '../../core/run/signal.js';
import { InvalidSignalError, signalRefusal, signalStanding } from '../../core/run/signal.js';
import type { Program } from '../../core/step.js';
import type { SignalOutcome } from '../../ports/run-service.js';
import { envelope } from '../../runtime/messages.js';

/** What a Kafka surface knows of a run it is asked to signal: its status and where it stands. */
export interface SignalTarget {
  readonly runId: string;
  readonly status: string;
  readonly view: SignalView;
  /** The run's program; `undefined` when its definition is known nowhere here (the orchestrator checks the data). */
  readonly program: Program | undefined;
}

/**
 * Refuses a signal the run would not apply, before anything is published: `signalRefusal` when the run's program
 * is known; without it, what the run's state alone tells (a bad rejection, an ended run, a wait not reached).
 *
 * @throws LockstepError `INVALID_SIGNAL` (an {@link InvalidSignalError}), `RUN_ENDED`, `NOT_WAITING`.
 */
export function assertSignalable(target: SignalTarget, signal: Signal): void {
  if (target.program) {
    const refusal = signalRefusal(target.program, target, signal);
    if (refusal) throw refusal;
    return;
  }
  if (signal.reject !== undefined && (typeof signal.reject !== 'string' || signal.reject.trim() === ''))
    throw new InvalidSignalError([{ path: 'reject', message: 'expected a reason: a non-empty string' }]);
  if (signal.reject !== undefined && signal.data !== undefined)
    throw new InvalidSignalError([{ path: 'data', message: 'a rejection carries a reason, not data' }]);
  if (target.status !== 'running') throw new LockstepError(ErrorCode.runEnded, `run ${target.runId} already ended: ${target.status}`);
  if (signalStanding(target.view, signal.taskId).kind === 'not-yet')
    throw new LockstepError(ErrorCode.notWaiting, `run ${target.runId} is not waiting for ${signal.taskId} yet: nothing was recorded`);
}

/**
 * The `task.signal` envelope of a signal (schemas/task.signal.json), for the events topic keyed by the run id.
 *
 * @throws LockstepError `INVALID_USAGE` for a run id lockstep reserves.
 */
export function signalMessage(runId: string, signal: Signal, now: number): Envelope {
  assertRunId(runId);
  const payload = signal.reject !== undefined ? { reject: signal.reject } : signal.data === undefined ? {} : { data: signal.data };
  return envelope({ type: 'task.signal', runId, taskId: signal.taskId, payload }, now);
}

/** What publishing a signal gives in Kafka mode: it is on the events topic, for the orchestrator that owns the run. */
export const PUBLISHED: SignalOutcome = { status: 'recorded', driven: true };

/** The error for a signal to a run no record of which is known. */
export const unknownRunError = (runId: string, where: string): LockstepError =>
  new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}: ${where} has no state of it; nothing was recorded`);
