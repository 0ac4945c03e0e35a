import type { Outcome } from '../core/compile/types.js';
import { DefinitionError, ErrorCode, LockstepError } from '../core/errors.js';

/**
 * Exit codes of the `lockstep` command: one meaning each. The README lists them; {@link exitCodeOfError} maps
 * every error code to one of them, in this file only.
 */
export const ExitCode = {
  /** The command did what was asked; a run it drove or waited for succeeded. */
  ok: 0,
  /** A run it drove or waited for failed, `test` found a failing path, `check-history` a violation (or an internal error: a bug, printed with its stack). */
  failed: 1,
  /** Invalid usage, definition or input: unknown options, runs, sequences or tasks included. */
  invalid: 2,
  /** The run store is missing, corrupt, too new, or cannot be read or written (`STORE_…`). */
  storeUnavailable: 3,
  /** Another live process drives the run (`RUN_LOCKED`); nothing was changed. */
  runLocked: 4,
  /** The run is not in a state the command can act on: resume of an ended run, rerun of an unfinished one (`RUN_NOT_RESUMABLE`, `RUN_ACTIVE`, `RUN_ENDED`). */
  runState: 5,
  /** Waiting for a run to end gave up (`start --wait --timeout`, `WAIT_TIMEOUT`); the run goes on. */
  timedOut: 6,
  /** The Kafka brokers cannot be reached, or the topics are missing (`TRANSPORT_UNAVAILABLE`). */
  transportUnavailable: 7,
  /** The run was cancelled (Ctrl-C, SIGTERM, `lockstep cancel`). */
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code of every error code: a new code does not compile until it is given its one meaning here. */
const EXIT_OF_ERROR: { readonly [K in ErrorCode]: ExitCode } = {
  [ErrorCode.invalidDefinition]: ExitCode.invalid,
  [ErrorCode.invalidMessage]: ExitCode.invalid,
  [ErrorCode.invalidUsage]: ExitCode.invalid,
  [ErrorCode.invalidRequest]: ExitCode.invalid,
  [ErrorCode.unknownRun]: ExitCode.invalid,
  [ErrorCode.unknownSequence]: ExitCode.invalid,
  [ErrorCode.unknownTask]: ExitCode.invalid,
  [ErrorCode.unauthorized]: ExitCode.invalid,
  [ErrorCode.authNotConfigured]: ExitCode.invalid,
  [ErrorCode.storeCorrupt]: ExitCode.storeUnavailable,
  [ErrorCode.storeTooNew]: ExitCode.storeUnavailable,
  [ErrorCode.storeMissing]: ExitCode.storeUnavailable,
  [ErrorCode.storeUnavailable]: ExitCode.storeUnavailable,
  [ErrorCode.storeFull]: ExitCode.storeUnavailable,
  [ErrorCode.storeReadOnly]: ExitCode.storeUnavailable,
  [ErrorCode.storeIo]: ExitCode.storeUnavailable,
  // A record the broker can never take (a start whose input does not fit the events topic): the input is invalid.
  [ErrorCode.recordTooLarge]: ExitCode.invalid,
  [ErrorCode.recordRejected]: ExitCode.invalid,
  [ErrorCode.runLocked]: ExitCode.runLocked,
  [ErrorCode.runNotResumable]: ExitCode.runState,
  [ErrorCode.runActive]: ExitCode.runState,
  [ErrorCode.runEnded]: ExitCode.runState,
  [ErrorCode.waitTimeout]: ExitCode.timedOut,
  [ErrorCode.transportUnavailable]: ExitCode.transportUnavailable,
  [ErrorCode.taskFailed]: ExitCode.failed,
  [ErrorCode.taskTimeout]: ExitCode.failed,
  [ErrorCode.taskCancelled]: ExitCode.failed,
  [ErrorCode.taskInterrupted]: ExitCode.failed,
  [ErrorCode.noHandler]: ExitCode.failed,
  [ErrorCode.resultTooLarge]: ExitCode.failed,
  [ErrorCode.runDataTooLarge]: ExitCode.failed,
  [ErrorCode.invalidResult]: ExitCode.failed,
  [ErrorCode.signalRejected]: ExitCode.failed,
  [ErrorCode.invalidSignal]: ExitCode.invalid,
  // The run is elsewhere than the wait the signal names: the run's state, like a resume of an ended run.
  [ErrorCode.notWaiting]: ExitCode.runState,
};

/** The exit code of a run that ended: 0 succeeded, 1 failed, 130 cancelled. */
export function exitCodeOfOutcome(outcome: Outcome): ExitCode {
  return outcome === 'succeeded' ? ExitCode.ok : outcome === 'cancelled' ? ExitCode.cancelled : ExitCode.failed;
}

/** The exit code for an error a command ended with; anything that is not a lockstep error (a bug) exits 1. */
export function exitCodeOfError(error: unknown): ExitCode {
  if (error instanceof DefinitionError) return ExitCode.invalid;
  if (!(error instanceof LockstepError)) return ExitCode.failed;
  return EXIT_OF_ERROR[error.code] ?? ExitCode.failed;
}
