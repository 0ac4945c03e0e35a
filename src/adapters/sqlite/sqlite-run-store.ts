import type Database from 'better-sqlite3';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { Signal } from '../../core/run/signal.js';
import type { AttemptLog, AttemptLogChunk, AttemptLogFilter, LogLine } from '../../ports/attempt-logs.js';
import { utf8Bytes } from '../../ports/attempt-logs.js';
import type { AttemptProcess } from '../../ports/attempt-processes.js';
import type { EntryState, Release, RunFilter, RunRecord, RunStore, RunUpdate, StoredRun } from '../../ports/run-store.js';
import type { StoredSignal } from '../../ports/signal-inbox.js';
import type { SqliteStoreStats, Write } from './group-commit.js';
import { GroupCommit } from './group-commit.js';
import type { LockHolder } from './process-liveness.js';
import { currentProcess, holderAlive } from './process-liveness.js';
import type { AttemptLogRow, AttemptProcessRow, LockRow, RunKey, RunRow, SignalRow, Statements } from './statements.js';
import { listParams, listSql, prepareStatements, toAttemptProcess, toHolder, toRecord, toStoredSignal } from './statements.js';
import type { OpenStoreOptions } from './store-file.js';
import { openStoreDatabase, storeError } from './store-file.js';

/**
 * A durable run store in one SQLite file (WAL mode, `synchronous = FULL`).
 *
 * Writes from all runs are grouped: every `create` and `append` made in one tick of the event loop goes into
 * one transaction, and each resolves only once that transaction is committed and synced. A write that is
 * refused (an unknown run, a duplicate id) fails alone; the others still commit.
 *
 * Run locks live in the same file, so they work across processes: a lock records the holder's pid, its start
 * time and host, and a lock whose holder process has died may be taken over.
 *
 * @example
 * const store = SqliteRunStore.open('.lockstep/lockstep.db');
 * const runtime = await createEmbeddedRuntime({ store });
 */
export class SqliteRunStore implements RunStore {
  readonly path: string;
  /** Other processes open the same file: `lockstep signal` in another terminal adds signals to it. */
  readonly sharedInbox = true;
  /** Counters of the group commit. */
  readonly stats: SqliteStoreStats;
  readonly #db: Database.Database;
  readonly #held = new Map<string, string>();
  readonly #process = currentProcess();
  #closed = false;
  readonly #sql: Statements;
  /** Listing statements by their SQL: at most one per combination of filters. */
  readonly #listings = new Map<string, Database.Statement>();
  readonly #writes: GroupCommit;
  readonly #takeLock: Database.Transaction<(runId: string, owner: string) => void>;
  readonly #snapshot: <T>(read: () => T) => T;
  readonly #writeLogs: Database.Transaction<(chunks: readonly AttemptLogChunk[]) => void>;
  readonly #addSignal: Database.Transaction<(runId: string, at: number, body: string) => number>;

  /** Prefer {@link SqliteRunStore.open}. */
  constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.path = path;
    this.#sql = prepareStatements(db);
    this.#writes = new GroupCommit(db, this.#sql, path);
    this.stats = this.#writes.stats;
    const readTransaction = db.transaction((read: () => unknown) => read());
    this.#snapshot = <T>(read: () => T) => readTransaction.deferred(read) as T;
    this.#writeLogs = db.transaction((chunks: readonly AttemptLogChunk[]) => {
      for (const chunk of chunks) {
        const key = this.#sql.getKey.get(chunk.runId) as RunKey | undefined;
        if (!key) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${chunk.runId}`);
        this.#sql.putAttemptLog.run(key.id, chunk.task, chunk.attempt, chunk.phase);
        const { id } = this.#sql.attemptLogId.get(key.id, chunk.task, chunk.attempt) as { id: number };
        let bytes = 0;
        for (const line of chunk.lines) {
          this.#sql.insertLogLine.run(id, line.at, line.stream, line.text);
          bytes += utf8Bytes(line.text);
        }
        this.#sql.growAttemptLog.run(bytes, chunk.truncated ? 1 : 0, id);
      }
    });
    this.#addSignal = db.transaction((runId: string, at: number, body: string) => {
      const key = this.#sql.getKey.get(runId) as RunKey | undefined;
      if (!key) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
      return Number(this.#sql.insertSignal.run(key.id, at, body).lastInsertRowid);
    });
    this.#takeLock = db.transaction((runId: string, owner: string) => {
      const row = this.#sql.getLock.get(runId) as LockRow | undefined;
      if (row && row.owner !== owner && holderAlive(toHolder(row))) {
        const since = new Date(row.acquired_at).toISOString();
        throw new LockstepError(
          ErrorCode.runLocked,
          `run ${runId} is being driven by another process (pid ${row.pid} on ${row.host}, since ${since}); nothing was changed`,
        );
      }
      const me = this.#process;
      this.#sql.putLock.run({ run_id: runId, owner, pid: me.pid, pid_start: me.pidStart, host: me.host, acquired_at: Date.now() });
    });
  }

  /**
   * Opens (or creates) the store at `path`, verifying it first.
   *
   * @throws LockstepError `STORE_MISSING` (with `create: false`), `STORE_CORRUPT`, `STORE_TOO_NEW` or `STORE_UNAVAILABLE`.
   */
  static open(path: string, options: OpenStoreOptions = {}): SqliteRunStore {
    return new SqliteRunStore(openStoreDatabase(path, options), path);
  }

  create(record: RunRecord, entries: readonly RunEntry[], states?: readonly EntryState[]): Promise<void> {
    return this.#enqueue({ kind: 'create', record, entries, states });
  }

  append(runId: string, entries: readonly RunEntry[], update?: RunUpdate, states?: readonly EntryState[]): Promise<void> {
    return this.#enqueue({ kind: 'append', runId, entries, update, states });
  }

  async get(runId: string): Promise<StoredRun | undefined> {
    this.#open();
    this.#writes.flush();
    // One read transaction: the record and its history come from the same snapshot.
    return this.#read('reading a run', () =>
      this.#snapshot(() => {
        const row = this.#sql.getRun.get(runId) as RunRow | undefined;
        if (!row) return undefined;
        const rows = this.#sql.history.all(runId) as Array<{ body: string; state: string | null }>;
        const history = rows.map((r) => JSON.parse(r.body) as RunEntry);
        const states = rows.map((r): EntryState => (r.state === null ? undefined : (JSON.parse(r.state) as EntryState)));
        return { record: toRecord(row), history, states };
      }),
    );
  }

  async list(filter: RunFilter = {}): Promise<RunRecord[]> {
    this.#open();
    this.#writes.flush();
    return this.#read('listing runs', () => {
      const sql = listSql(filter);
      let statement = this.#listings.get(sql);
      if (!statement) {
        statement = this.#db.prepare(sql);
        this.#listings.set(sql, statement);
      }
      return (statement.all(listParams(filter)) as RunRow[]).map(toRecord);
    });
  }

  /**
   * Takes the right to drive a run, in an IMMEDIATE transaction so two processes never both succeed. A lock
   * held by another owner whose process is gone (on this host) is taken over.
   *
   * Lock rows are committed without syncing the WAL (`synchronous = NORMAL`, which still syncs around
   * checkpoints): a lock only matters while its holder lives, and a power loss ends every holder. The next
   * history commit syncs them along with it.
   *
   * @throws LockstepError `RUN_LOCKED` when a live process holds the run.
   */
  async lock(runId: string, owner: string): Promise<Release> {
    this.#open();
    this.#unsynced(() => this.#takeLock.immediate(runId, owner), 'taking a run lock');
    this.#held.set(runId, owner);
    return () => {
      if (this.#held.get(runId) !== owner) return;
      this.#held.delete(runId);
      if (this.#closed) return;
      try {
        this.#unsynced(() => this.#sql.deleteLock.run(runId, owner), 'releasing a run lock');
      } catch {
        // The row stays behind, held by this process: once it exits, the lock can be taken over.
      }
    };
  }

  /** Who holds a run's lock, and whether that process is still alive; `undefined` when the run is not locked. */
  holder(runId: string): (LockHolder & { alive: boolean }) | undefined {
    this.#open();
    const row = this.#read('reading a run lock', () => this.#sql.getLock.get(runId) as LockRow | undefined);
    if (!row) return undefined;
    const holder = toHolder(row);
    return { ...holder, alive: holderAlive(holder) };
  }

  /**
   * Records an attempt's process group at once, in a transaction of its own rather than the next group commit:
   * the group is already running, and a crash right after must still find it. Like lock rows, it is committed
   * without syncing the WAL: it survives the process being killed, and a power loss ends the group too.
   */
  async recordAttemptProcess(process: AttemptProcess): Promise<void> {
    this.#open();
    this.#writes.flush();
    this.#unsynced(() => {
      const key = this.#sql.getKey.get(process.runId) as RunKey | undefined;
      if (!key) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${process.runId}`);
      this.#sql.putAttemptProcess.run({
        run: key.id,
        task: process.task,
        attempt: process.attempt,
        pgid: process.pgid,
        start_time: process.startTime,
        boot_id: process.bootId,
        host: process.host,
        started_at: process.startedAt,
      });
    }, 'recording an attempt process');
  }

  async clearAttemptProcess(runId: string, task: string, attempt: number): Promise<void> {
    this.#open();
    this.#unsynced(() => this.#sql.deleteAttemptProcess.run(runId, task, attempt), 'clearing an attempt process');
  }

  async attemptProcesses(runId: string): Promise<AttemptProcess[]> {
    this.#open();
    return this.#read('reading attempt processes', () =>
      (this.#sql.attemptProcesses.all(runId) as AttemptProcessRow[]).map(toAttemptProcess),
    );
  }

  /**
   * Appends log chunks in one transaction of their own, outside the group commit of history, and like lock rows
   * without syncing the WAL: the next history commit (an attempt's completion comes after its log) syncs them.
   */
  async appendLogs(chunks: readonly AttemptLogChunk[]): Promise<void> {
    this.#open();
    this.#writes.flush();
    this.#unsynced(() => this.#writeLogs.immediate(chunks), 'writing attempt logs');
  }

  async attemptLogs(runId: string, filter: AttemptLogFilter = {}): Promise<AttemptLog[]> {
    this.#open();
    this.#writes.flush();
    return this.#read('reading attempt logs', () =>
      this.#snapshot(() =>
        (this.#sql.attemptLogs.all(runId) as AttemptLogRow[])
          .filter(
            (row) =>
              (filter.task === undefined || row.task === filter.task) && (filter.attempt === undefined || row.attempt === filter.attempt),
          )
          .map(
            (row): AttemptLog => ({
              task: row.task,
              attempt: row.attempt,
              phase: row.phase as AttemptLog['phase'],
              lines: this.#sql.logLines.all(row.id) as LogLine[],
              bytes: row.bytes,
              truncated: row.truncated === 1,
            }),
          ),
      ),
    );
  }

  /**
   * Adds a signal in a transaction of its own, synced (`synchronous = FULL`) before it resolves: the surface that
   * added it reports it recorded, and it must survive any crash from then on.
   */
  async addSignal(runId: string, signal: Signal, at: number): Promise<StoredSignal> {
    this.#open();
    // A run created in the pending group commit is known once it is committed.
    this.#writes.flush();
    const body = JSON.stringify(signal);
    try {
      const id = this.#addSignal.immediate(runId, at, body);
      return { id, runId, signal: JSON.parse(body) as Signal, at };
    } catch (error) {
      throw error instanceof LockstepError ? error : storeError(error, this.path, 'recording a signal');
    }
  }

  async pendingSignals(runIds?: readonly string[]): Promise<StoredSignal[]> {
    this.#open();
    if (runIds?.length === 0) return [];
    return this.#read('reading signals', () => {
      const rows = (runIds ? this.#sql.signalsOf.all(JSON.stringify(runIds)) : this.#sql.allSignals.all()) as SignalRow[];
      return rows.map(toStoredSignal);
    });
  }

  /**
   * Removes an applied signal, without syncing the WAL: a removal lost to a power loss only has the signal applied
   * again, and the run ignores it as a duplicate.
   */
  async removeSignal(id: number): Promise<void> {
    this.#open();
    this.#unsynced(() => this.#sql.deleteSignal.run(id), 'removing a signal');
  }

  /** Whether a live process holds the run's lock. A holder on another host is assumed alive. */
  isDriven(runId: string): boolean {
    return this.holder(runId)?.alive ?? false;
  }

  /** Commits pending writes, releases the locks taken through this store, and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#writes.flush();
    for (const [runId, owner] of this.#held) {
      try {
        this.#sql.deleteLock.run(runId, owner);
      } catch {
        // see release
      }
    }
    this.#held.clear();
    this.#closed = true;
    this.#db.close();
  }

  #open(): void {
    if (this.#closed) throw new LockstepError(ErrorCode.storeUnavailable, `run store ${this.path} is closed`);
  }

  #read<T>(doing: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw storeError(error, this.path, doing);
    }
  }

  #unsynced<T>(write: () => T, doing: string): T {
    this.#sql.syncNormal.run();
    try {
      return write();
    } catch (error) {
      throw error instanceof LockstepError ? error : storeError(error, this.path, doing);
    } finally {
      this.#sql.syncFull.run();
    }
  }

  #enqueue(write: Write): Promise<void> {
    if (this.#closed) return Promise.reject(new LockstepError(ErrorCode.storeUnavailable, `run store ${this.path} is closed`));
    return this.#writes.enqueue(write);
  }
}
