import type { StateValue } from '../core/graph/model.js';
import type { EnvelopeOf } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import type { RunFacts } from '../core/run/run-facts.js';
import type { Signal } from '../core/run/signal.js';
import type { StartRequest } from '../core/run/start-request.js';
import type { RunStateView } from '../core/run/state-view.js';
import type { IgnoredReason, Program } from '../core/step.js';
import type { AttemptLog, AttemptLogFilter } from './attempt-logs.js';
import type { RunCursor, RunRecord, RunStatusView } from './run-store.js';

/** A sequence runs can be started of, with the text it was loaded from. */
export interface OfferedSequence {
  readonly program: Program;
  readonly definition: string;
  /** sha256 of `definition`, hex. */
  readonly hash: string;
  readonly source?: string;
}

/** The sequences of a registry as a run service offers them, sorted by name. */
export function offeredSequences(registry: ProgramRegistry): OfferedSequence[] {
  return registry.names().map((name) => {
    const r = registry.resolve(name);
    return { program: r.program, definition: r.definition, hash: r.hash, ...(r.source ? { source: r.source } : {}) };
  });
}

/** Where a run stands after its last entry: its state value, as the orchestrator reported it, and its facts. */
export interface RunPosition {
  readonly value: StateValue;
  readonly facts: RunFacts;
}

/** A run as a mode knows it: its record, its history as recorded, and where it stands. */
export interface RunDetail {
  readonly record: RunRecord;
  readonly history: readonly RunEntry[];
  /** Unknown for a run whose state cannot be told (its definition is not known here). */
  readonly position?: RunPosition;
}

/** Filters of the run list. */
export interface RunQuery {
  /** `interrupted` lists runs marked running that no live process drives. */
  readonly status?: RunStatusView;
  readonly sequence?: string;
  /** Runs whose id starts with this text. */
  readonly idPrefix?: string;
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Runs started before this time (ms since the epoch). */
  readonly until?: number;
  /** The next page: runs after this one, newest first. */
  readonly after?: RunCursor;
  /** @default 50 */
  readonly limit?: number;
}

/**
 * What became of a recorded signal: `applied` (the wait ended with it), `ignored` (the wait had already ended: a
 * duplicate, counted), or `recorded` (durable, for the process that drives the run, or for `lockstep resume`, to
 * apply; Kafka mode: published on the events topic).
 */
export type SignalOutcome =
  | { readonly status: 'applied' }
  | { readonly status: 'ignored'; readonly reason: IgnoredReason }
  | { readonly status: 'recorded'; readonly driven: boolean };

/** A completion a remote service reports for a task on its queue. */
export type TaskReport = EnvelopeOf<'task.succeeded'> | EnvelopeOf<'task.failed'>;

/** One history entry as it became durable, with the run's state after it. */
export interface EntryUpdate {
  readonly entry: RunEntry;
  /** Position of the entry in the run's history as {@link RunService.getRun} gives it (0 = run.started), or -1 when unknown. */
  readonly seq: number;
  /** The run's state after the entry, as the orchestrator reported it; absent when it is not known. */
  readonly state?: RunStateView;
}

/**
 * The runs of a mode, as a surface such as `lockstep serve` shows and steers them: embedded (runs execute in
 * this process) or Kafka (separate orchestrators drive them and this process watches their topics). States come
 * from what the orchestrator reported with each entry; nothing steps a machine to find one.
 */
export interface RunService {
  readonly mode: 'embedded' | 'kafka';
  /** The sequences that can be started, sorted by name. */
  sequences(): readonly OfferedSequence[];
  /** The program a run was started with, or `undefined` when its definition cannot be compiled here. */
  programOf(record: RunRecord): Program | undefined;
  /** Runs newest first, each with the status lockstep shows for it. */
  listRuns(query: RunQuery): Promise<Array<{ readonly record: RunRecord; readonly status: RunStatusView }>>;
  /** The status lockstep shows for a run: `interrupted` when it is marked running and no live process drives it. */
  statusOf(record: RunRecord): RunStatusView;
  getRun(runId: string): Promise<RunDetail | undefined>;
  /** The run's attempt logs, in the order the attempts started; `undefined` for an unknown run. */
  runLogs(runId: string, filter?: AttemptLogFilter): Promise<AttemptLog[] | undefined>;
  /** Asks for a new run; resolves to its id once the request is sent. */
  startRun(request: StartRequest): Promise<string>;
  cancelRun(runId: string, reason: string): Promise<void>;
  /**
   * Continues an interrupted run in this process, as `lockstep resume` does; resolves once the run is driven again.
   *
   * @throws LockstepError `UNKNOWN_RUN`; `RUN_NOT_RESUMABLE` when it ended or cannot be resumed here; `RUN_LOCKED`
   * when a live process drives it.
   */
  resumeRun(runId: string): Promise<void>;
  /**
   * Records a signal for a run's wait task (`lockstep signal`, `POST /api/runs/:id/tasks/:task/signal`). Checked
   * first with `signalRefusal`: nothing is recorded when it throws.
   *
   * @throws LockstepError `UNKNOWN_RUN`; `INVALID_SIGNAL` (an `InvalidSignalError` with every problem);
   * `RUN_ENDED`; `NOT_WAITING` when the run has not reached the wait.
   */
  signalRun?(runId: string, signal: Signal): Promise<SignalOutcome>;
  /** Hands a remote task's completion to the run, as if its worker had reported it. */
  reportTask(report: TaskReport): Promise<void>;
  /** Calls `listener` with every entry of every run as it becomes durable; returns the unsubscribe function. */
  subscribe(listener: (update: EntryUpdate) => void): () => void;
  /**
   * Resolves with the error once the mode can no longer drive runs (embedded mode: the store cannot record them);
   * the surface then stops. Never resolves otherwise.
   */
  whenFailed?(): Promise<unknown>;
  close(): Promise<void>;
}
