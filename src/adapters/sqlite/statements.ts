import type Database from 'better-sqlite3';
import type { Signal } from '../../core/run/signal.js';
import type { AttemptProcess } from '../../ports/attempt-processes.js';
import type { RunFilter, RunRecord, RunStatus } from '../../ports/run-store.js';
import type { StoredSignal } from '../../ports/signal-inbox.js';
import type { LockHolder } from './process-liveness.js';

/** A row of the `run_records` view. */
export interface RunRow {
  run_id: string;
  sequence: string;
  version: string;
  definition: string;
  definition_hash: string;
  source: string | null;
  input: string;
  status: string;
  created_at: number;
  updated_at: number;
  current_task: string | null;
  reason: string | null;
  rerun_of: string | null;
  entry_count: number;
}

/** A run's integer key in the file and how many entries it has. */
export interface RunKey {
  readonly id: number;
  readonly count: number;
}

export interface LockRow {
  owner: string;
  pid: number;
  pid_start: string | null;
  host: string;
  acquired_at: number;
}

/** A row of `attempt_processes`, with its run's id. */
export interface AttemptProcessRow {
  run_id: string;
  task: string;
  attempt: number;
  pgid: number;
  start_time: string | null;
  boot_id: string | null;
  host: string;
  started_at: number;
}

export const toAttemptProcess = (row: AttemptProcessRow): AttemptProcess => ({
  runId: row.run_id,
  task: row.task,
  attempt: row.attempt,
  pgid: row.pgid,
  startTime: row.start_time,
  bootId: row.boot_id,
  host: row.host,
  startedAt: row.started_at,
});

export function toRecord(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    sequence: row.sequence,
    version: row.version,
    definition: row.definition,
    definitionHash: row.definition_hash,
    ...(row.source === null ? {} : { source: row.source }),
    input: JSON.parse(row.input) as unknown,
    status: row.status as RunStatus,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.current_task === null ? {} : { currentTask: row.current_task }),
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.rerun_of === null ? {} : { rerunOf: row.rerun_of }),
  };
}

export const toHolder = (row: LockRow): LockHolder => ({
  owner: row.owner,
  pid: row.pid,
  pidStart: row.pid_start,
  host: row.host,
  acquiredAt: row.acquired_at,
});

/** A row of `signals`, with its run's id. */
export interface SignalRow {
  id: number;
  run_id: string;
  at: number;
  body: string;
}

export const toStoredSignal = (row: SignalRow): StoredSignal => ({
  id: row.id,
  runId: row.run_id,
  signal: JSON.parse(row.body) as Signal,
  at: row.at,
});

/** A row of `attempt_logs`. */
export interface AttemptLogRow {
  id: number;
  task: string;
  attempt: number;
  phase: string;
  bytes: number;
  truncated: number;
}

/** The SQL of every statement the store runs, by name. */
const SQL = {
  getRun: 'SELECT * FROM run_records WHERE run_id = ?',
  getKey: 'SELECT id, entry_count AS count FROM runs WHERE run_id = ?',
  history: 'SELECT e.body, e.state FROM entries e JOIN runs r ON r.id = e.run WHERE r.run_id = ? ORDER BY e.seq',
  definitionsByHash: 'SELECT id, text FROM definitions WHERE hash = ?',
  insertDefinition: 'INSERT INTO definitions (hash, text) VALUES (?, ?)',
  insertInput: 'INSERT INTO run_inputs (run, input) VALUES (?, ?)',
  insertRun: `INSERT INTO runs (run_id, sequence, version, definition_id, definition_hash, source, status, created_at, updated_at,
    current_task, reason, rerun_of, entry_count) VALUES (@run_id, @sequence, @version, @definition_id, @definition_hash, @source, @status,
    @created_at, @updated_at, @current_task, @reason, @rerun_of, @entry_count)`,
  insertEntry: 'INSERT INTO entries (run, seq, at, type, body, state) VALUES (?, ?, ?, ?, ?, ?)',
  // Parameters: entry count, updated at (or null), status (or null), reason (or null), task change (0 keep, 1 clear, 2 set), task, run id.
  updateRun: `UPDATE runs SET entry_count = ?, updated_at = COALESCE(?, updated_at), status = COALESCE(?, status),
    reason = COALESCE(?, reason), current_task = CASE ? WHEN 0 THEN current_task WHEN 1 THEN NULL ELSE ? END
    WHERE id = ?`,
  getLock: 'SELECT owner, pid, pid_start, host, acquired_at FROM run_locks WHERE run_id = ?',
  putLock: `INSERT INTO run_locks (run_id, owner, pid, pid_start, host, acquired_at)
    VALUES (@run_id, @owner, @pid, @pid_start, @host, @acquired_at)
    ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, pid_start = excluded.pid_start,
      host = excluded.host, acquired_at = excluded.acquired_at`,
  deleteLock: 'DELETE FROM run_locks WHERE run_id = ? AND owner = ?',
  putAttemptProcess: `INSERT OR REPLACE INTO attempt_processes (run, task, attempt, pgid, start_time, boot_id, host, started_at)
    VALUES (@run, @task, @attempt, @pgid, @start_time, @boot_id, @host, @started_at)`,
  deleteAttemptProcess: 'DELETE FROM attempt_processes WHERE run = (SELECT id FROM runs WHERE run_id = ?) AND task = ? AND attempt = ?',
  attemptProcesses: `SELECT r.run_id, p.task, p.attempt, p.pgid, p.start_time, p.boot_id, p.host, p.started_at
    FROM attempt_processes p JOIN runs r ON r.id = p.run WHERE r.run_id = ? ORDER BY p.rowid`,
  putAttemptLog: `INSERT INTO attempt_logs (run, task, attempt, phase) VALUES (?, ?, ?, ?)
    ON CONFLICT (run, task, attempt) DO NOTHING`,
  attemptLogId: 'SELECT id FROM attempt_logs WHERE run = ? AND task = ? AND attempt = ?',
  growAttemptLog: 'UPDATE attempt_logs SET bytes = bytes + ?, truncated = MAX(truncated, ?) WHERE id = ?',
  insertLogLine: 'INSERT INTO log_lines (log, at, stream, text) VALUES (?, ?, ?, ?)',
  attemptLogs: `SELECT l.id, l.task, l.attempt, l.phase, l.bytes, l.truncated
    FROM attempt_logs l JOIN runs r ON r.id = l.run WHERE r.run_id = ? ORDER BY l.id`,
  logLines: 'SELECT at, stream, text FROM log_lines WHERE log = ? ORDER BY rowid',
  insertSignal: 'INSERT INTO signals (run, at, body) VALUES (?, ?, ?)',
  allSignals: 'SELECT s.id, r.run_id, s.at, s.body FROM signals s JOIN runs r ON r.id = s.run ORDER BY s.id',
  // The runs as a JSON array: one statement for any number of them.
  signalsOf: `SELECT s.id, r.run_id, s.at, s.body FROM signals s JOIN runs r ON r.id = s.run
    WHERE r.run_id IN (SELECT value FROM json_each(?)) ORDER BY s.id`,
  deleteSignal: 'DELETE FROM signals WHERE id = ?',
  // Lock and attempt process rows need no sync of their own (see SqliteRunStore.lock); NORMAL still syncs around checkpoints, so the file stays safe.
  syncNormal: 'PRAGMA synchronous = NORMAL',
  syncFull: 'PRAGMA synchronous = FULL',
} as const;

/**
 * The listing query for a filter: only the conditions the filter sets, so SQLite picks the index that fits
 * (`runs_by_sequence`, `runs_by_status_id`, `runs_by_created_id`, or `run_id`'s for a prefix). Parameters are named
 * as in {@link listParams}; an id prefix is a range on `run_id`, which an index serves.
 */
export function listSql(filter: RunFilter): string {
  const where: string[] = [];
  if (filter.status !== undefined) where.push('status = @status');
  if (filter.sequence !== undefined) where.push('sequence = @sequence');
  if (filter.idPrefix !== undefined) where.push('run_id >= @prefix_low AND run_id < @prefix_high');
  if (filter.since !== undefined) where.push('created_at >= @since');
  if (filter.until !== undefined) where.push('created_at < @until');
  if (filter.after) where.push('(created_at < @after_at OR (created_at = @after_at AND run_id < @after_id))');
  return `SELECT * FROM run_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, run_id DESC LIMIT @limit`;
}

/** The named parameters of {@link listSql}. */
export function listParams(filter: RunFilter): Record<string, string | number> {
  return {
    limit: filter.limit ? filter.limit : -1,
    ...(filter.status !== undefined ? { status: filter.status } : {}),
    ...(filter.sequence !== undefined ? { sequence: filter.sequence } : {}),
    // Every id with the prefix sorts at or after it and before the prefix followed by the highest code point.
    ...(filter.idPrefix !== undefined ? { prefix_low: filter.idPrefix, prefix_high: `${filter.idPrefix}\u{10FFFF}` } : {}),
    ...(filter.since !== undefined ? { since: filter.since } : {}),
    ...(filter.until !== undefined ? { until: filter.until } : {}),
    ...(filter.after ? { after_at: filter.after.createdAt, after_id: filter.after.runId } : {}),
  };
}

/** The store's prepared statements, by name. */
export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

/** Prepares every statement once, when the store opens. */
export function prepareStatements(db: Database.Database): Statements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as unknown as Statements;
}
