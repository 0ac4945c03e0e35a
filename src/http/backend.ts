import type { RunContext } from '../core/compile/types.js';
import type { EnvelopeOf } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Program } from '../core/step.js';
import type { RunRecord, RunStatusView } from '../ports/run-store.js';
import type { StartRequest } from '../runtime/orchestrator.js';
import type { RunStateView } from './run-view.js';

/** A sequence the server can start, with the text it was loaded from. */
export interface ServedSequence {
  readonly program: Program;
  readonly definition: string;
  /** sha256 of `definition`, hex. */
  readonly hash: string;
  readonly source?: string;
}

/** A run as a backend knows it. */
export interface StoredRun {
  readonly record: RunRecord;
  readonly history: RunEntry[];
  /** The machine's state when the backend has it (Kafka mode); otherwise it is rebuilt by replaying `history`. */
  readonly snapshot?: { readonly value: unknown; readonly context: RunContext };
}

/** Filters of the run list. */
export interface RunQuery {
  /** `interrupted` lists runs marked running that no live process drives. */
  readonly status?: RunStatusView;
  readonly sequence?: string;
  /** @default 50 */
  readonly limit?: number;
}

/** A completion a remote service reports over HTTP. */
export type IngestEnvelope = EnvelopeOf<'task.succeeded'> | EnvelopeOf<'task.failed'>;

/** One live update: a history entry as it became durable, with the run's state after it. */
export interface LiveUpdate {
  readonly entry: RunEntry;
  /** Position of the entry in the run's history (0 = run.started), or -1 when unknown. */
  readonly seq: number;
  /** The run's state after the entry, when known. */
  readonly state?: RunStateView;
}

/**
 * What `lockstep serve` needs from a mode: embedded (the runs execute in the server's process) or Kafka
 * (the server watches runs that separate orchestrators drive).
 */
export interface ServeBackend {
  readonly mode: 'embedded' | 'kafka';
  /** The sequences that can be started, sorted by name. */
  sequences(): readonly ServedSequence[];
  /** The program a run was started with, or `undefined` when its definition cannot be compiled here. */
  programOf(record: RunRecord): Program | undefined;
  /** Runs newest first, each with the status lockstep shows for it. */
  listRuns(query: RunQuery): Promise<Array<{ readonly record: RunRecord; readonly status: RunStatusView }>>;
  /** The status lockstep shows for a run: `interrupted` when it is marked running and no live process drives it. */
  statusOf(record: RunRecord): RunStatusView;
  getRun(runId: string): Promise<StoredRun | undefined>;
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
  /** Publishes a remote task's completion to the events topic. */
  ingest(envelope: IngestEnvelope): Promise<void>;
  /** Calls `listener` with every entry of every run as it becomes durable; returns the unsubscribe function. */
  subscribe(listener: (update: LiveUpdate) => void): () => void;
  /**
   * Resolves with the error once the backend can no longer drive runs (embedded mode: the store cannot record
   * them); the server then stops. Never resolves otherwise.
   */
  whenFailed?(): Promise<unknown>;
  close(): Promise<void>;
}
