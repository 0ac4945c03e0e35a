import type { Outcome } from '../core/compile/types.js';
import type { StateValue } from '../core/graph/model.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { AttemptLogs } from './attempt-logs.js';
import type { AttemptProcess } from './attempt-processes.js';
import type { SignalInbox } from './signal-inbox.js';

/** A run's status as recorded: running until it ends with an outcome. */
export type RunStatus = 'running' | Outcome;

/**
 * A run's status as lockstep shows it (`lockstep runs`, `show`, the HTTP API, the page): the stored status, except
 * that a run still marked running that no live process drives is `interrupted`. Its process died (SIGKILL, a
 * crash, a reboot); `lockstep resume` or `POST /api/runs/:id/resume` continues it.
 */
export type RunStatusView = RunStatus | 'interrupted';

/** Every status a run can be shown with, in the order listings document them. */
export const RUN_STATUS_VIEWS: readonly RunStatusView[] = ['running', 'interrupted', 'succeeded', 'failed', 'cancelled'];

/** The one definition of `interrupted`: marked running, and no live process holds the run's lock. */
export function runStatusView(status: RunStatus, driven: boolean): RunStatusView {
  return status === 'running' && !driven ? 'interrupted' : status;
}

/** What a store keeps about a run besides its history. */
export interface RunRecord {
  readonly runId: string;
  readonly sequence: string;
  readonly version: string;
  /** The exact definition the run started with, and its sha256. A later edit of the file never changes it. */
  readonly definition: string;
  readonly definitionHash: string;
  /** Where the definition came from, when it came from a file. */
  readonly source?: string;
  readonly input: unknown;
  readonly status: RunStatus;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The task in flight, or the task that failed the run. */
  readonly currentTask?: string;
  readonly reason?: string;
  readonly rerunOf?: string;
}

/** A run as a store keeps it: its record, its history, and its state after each entry. */
export interface StoredRun {
  readonly record: RunRecord;
  readonly history: RunEntry[];
  /**
   * `states[i]` is the run's state value right after `history[i]`, as the orchestrator reported it; `undefined`
   * for entries recorded before stores kept states.
   */
  readonly states?: readonly EntryState[];
}

/** The run's state value right after an entry; `undefined` when it was not recorded. */
export type EntryState = StateValue | undefined;

/** A status change that travels with appended entries. */
export interface RunUpdate {
  readonly status?: RunStatus;
  readonly currentTask?: string | null;
  readonly reason?: string;
}

/** Where a page of a listing ends: the newest-first order is by `createdAt`, then by `runId`, both descending. */
export interface RunCursor {
  readonly createdAt: number;
  readonly runId: string;
}

export interface RunFilter {
  readonly status?: RunStatus;
  readonly sequence?: string;
  /** Runs whose id starts with this text (case-sensitive). */
  readonly idPrefix?: string;
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Runs started before this time (ms since the epoch). */
  readonly until?: number;
  /** Runs after this one in the newest-first order: the next page. */
  readonly after?: RunCursor;
  readonly limit?: number;
}

/** Whether a record passes a filter (all but `limit`). The one definition the stores and the Kafka listing share. */
export function recordMatches(record: RunRecord, filter: RunFilter): boolean {
  if (filter.status !== undefined && record.status !== filter.status) return false;
  if (filter.sequence !== undefined && record.sequence !== filter.sequence) return false;
  if (filter.idPrefix !== undefined && !record.runId.startsWith(filter.idPrefix)) return false;
  if (filter.since !== undefined && record.createdAt < filter.since) return false;
  if (filter.until !== undefined && record.createdAt >= filter.until) return false;
  const after = filter.after;
  if (after && !(record.createdAt < after.createdAt || (record.createdAt === after.createdAt && record.runId < after.runId))) return false;
  return true;
}

/** The newest-first order of listings: `createdAt`, then `runId`, both descending. */
export function newestFirst(a: RunRecord, b: RunRecord): number {
  return b.createdAt - a.createdAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0);
}

/** Releases a run lock. */
export type Release = () => void;

/**
 * Durable run history. `append` resolves only once the entries are durable; implementations may group
 * appends from many runs into one commit, but never drop one. The store also keeps each attempt's log (see
 * {@link AttemptLogs}): `appendLogs` throws an `UNKNOWN_RUN` LockstepError for an unknown run. Signals for runs' wait
 * tasks wait in it until they are applied (see {@link SignalInbox}).
 */
export interface RunStore extends AttemptLogs, SignalInbox {
  /** `states[i]`, when given, is the run's state value right after `entries[i]` (see {@link StoredRun.states}). */
  create(record: RunRecord, entries: readonly RunEntry[], states?: readonly EntryState[]): Promise<void>;
  append(runId: string, entries: readonly RunEntry[], update?: RunUpdate, states?: readonly EntryState[]): Promise<void>;
  /** The run and its whole history, or `undefined` for an unknown id. */
  get(runId: string): Promise<StoredRun | undefined>;
  list(filter?: RunFilter): Promise<RunRecord[]>;
  /** Takes the exclusive right to drive a run. Throws a `RUN_LOCKED` LockstepError when another process holds it. */
  lock(runId: string, owner: string): Promise<Release>;
  /**
   * Records the process group of a shell attempt that started, replacing an earlier record of the same attempt.
   * Resolves once the record would survive the recording process being killed.
   * Throws an `UNKNOWN_RUN` LockstepError for an unknown run.
   */
  recordAttemptProcess(process: AttemptProcess): Promise<void>;
  /** Forgets an attempt's process group, once it is gone. Forgetting one that is not recorded does nothing. */
  clearAttemptProcess(runId: string, task: string, attempt: number): Promise<void>;
  /** The process groups recorded for a run's attempts, in the order they were recorded. */
  attemptProcesses(runId: string): Promise<AttemptProcess[]>;
  /**
   * Whether a live process holds the run's lock, i.e. drives it. A lock left by a process that died does not
   * count (see {@link runStatusView}).
   */
  isDriven(runId: string): boolean;
  close(): Promise<void>;
}
