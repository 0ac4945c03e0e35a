import type { Problem } from './sequence/problems.js';
import { formatProblems } from './sequence/problems.js';

/** Every error code lockstep raises. */
export const ErrorCode = {
  invalidDefinition: 'INVALID_DEFINITION',
  invalidMessage: 'INVALID_MESSAGE',
  invalidUsage: 'INVALID_USAGE',
  unknownRun: 'UNKNOWN_RUN',
  unknownSequence: 'UNKNOWN_SEQUENCE',
  runLocked: 'RUN_LOCKED',
  runNotResumable: 'RUN_NOT_RESUMABLE',
  storeCorrupt: 'STORE_CORRUPT',
  storeTooNew: 'STORE_TOO_NEW',
  storeMissing: 'STORE_MISSING',
  /** The store cannot be used right now: busy past the timeout (retriable), closed, or another SQLite failure. */
  storeUnavailable: 'STORE_UNAVAILABLE',
  transportUnavailable: 'TRANSPORT_UNAVAILABLE',
  taskFailed: 'TASK_FAILED',
  taskTimeout: 'TASK_TIMEOUT',
  taskCancelled: 'TASK_CANCELLED',
  taskInterrupted: 'TASK_INTERRUPTED',
  noHandler: 'NO_HANDLER',
  /** An HTTP request whose body, query or parameters do not validate. */
  invalidRequest: 'INVALID_REQUEST',
  /** A mutating HTTP request without the right bearer token. */
  unauthorized: 'UNAUTHORIZED',
  /** Mutating HTTP requests are refused because no token is configured (LOCKSTEP_TOKEN). */
  authNotConfigured: 'AUTH_NOT_CONFIGURED',
  unknownTask: 'UNKNOWN_TASK',
  /** The run has ended, so it cannot be cancelled or driven any more. */
  runEnded: 'RUN_ENDED',
  /** The run is still running, so it cannot be rerun yet. */
  runActive: 'RUN_ACTIVE',
  /** A task's result is over its `limits.resultBytes`. */
  resultTooLarge: 'RESULT_TOO_LARGE',
  /** A task's result would bring the run's data (input and results) over `limits.runBytes`. */
  runDataTooLarge: 'RUN_DATA_TOO_LARGE',
  /** A task's result cannot be taken: its result file is not JSON, or the value is not JSON-serialisable. */
  invalidResult: 'INVALID_RESULT',
  /** The store's disk (or its size limit) is full: nothing more can be recorded until space is freed. */
  storeFull: 'STORE_FULL',
  /** The store cannot be written: a read-only file, directory or file system. Reading it still works. */
  storeReadOnly: 'STORE_READ_ONLY',
  /** The operating system reported an I/O error on the store's files. */
  storeIo: 'STORE_IO',
  /** Waiting for a run to end gave up before it ended; the run itself goes on. */
  waitTimeout: 'WAIT_TIMEOUT',
  /** A record (a run's state, a dispatch) is larger than its topic accepts: the run it belongs to fails. */
  recordTooLarge: 'RECORD_TOO_LARGE',
  /** A signal wait's task failed because its signal was a rejection. */
  signalRejected: 'SIGNAL_REJECTED',
  /** A signal whose data does not match its task's schema, or that names no signal wait: nothing is recorded. */
  invalidSignal: 'INVALID_SIGNAL',
  /** A signal for a task the run is not waiting on (yet): nothing is recorded. */
  notWaiting: 'NOT_WAITING',
  /** The broker rejected a record for a reason that retrying cannot change (an invalid record, say). */
  recordRejected: 'RECORD_REJECTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of lockstep's error taxonomy: every error has a `code` and says whether retrying may help. */
export class LockstepError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LockstepError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A sequence definition that does not validate. `problems` lists every problem at once. */
export class DefinitionError extends LockstepError {
  readonly problems: readonly Problem[];
  readonly source: string | undefined;
  constructor(problems: readonly Problem[], source?: string) {
    super(ErrorCode.invalidDefinition, `${source ? `${source}: ` : ''}invalid sequence definition\n${formatProblems(problems)}`);
    this.name = 'DefinitionError';
    this.problems = problems;
    this.source = source;
  }
}

/** A message on the wire that does not match the protocol. */
export class MessageError extends LockstepError {
  constructor(message: string) {
    super(ErrorCode.invalidMessage, message);
    this.name = 'MessageError';
  }
}

/**
 * A failure raised by a task handler. Throw it with `retriable: false` to skip the remaining attempts.
 *
 * @example throw new TaskFailure('card declined', { retriable: false, type: 'CardDeclined' })
 */
export class TaskFailure extends LockstepError {
  readonly type: string | undefined;
  readonly details: unknown;
  constructor(message: string, options: { retriable?: boolean; type?: string; details?: unknown; cause?: unknown } = {}) {
    super(ErrorCode.taskFailed, message, { retriable: options.retriable ?? true, cause: options.cause });
    this.name = 'TaskFailure';
    this.type = options.type;
    this.details = options.details;
  }
}
