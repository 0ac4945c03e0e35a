import type Database from 'better-sqlite3';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { AttemptProcess } from '../../ports/attempt-processes.js';
import type { EntryState, Release, RunFilter, RunRecord, RunStore, RunUpdate, StoredRun } from '../../ports/run-store.js';
import type { LockHolder } from './process-liveness.js';
import { currentProcess, holderAlive } from './process-liveness.js';
import type { AttemptProcessRow, LockRow, RunKey, RunRow, Statements } from './statements.js';
import { prepareStatements, toAttemptProcess, toHolder, toRecord } from './statements.js';
import type { OpenStoreOptions } from './store-file.js';
import { openStoreDatabase, storeError } from './store-file.js';

type Write =
  | {
      readonly kind: 'create';
      readonly record: RunRecord;
      readonly entries: readonly RunEntry[];
      readonly states: readonly EntryState[] | undefined;
    }
  | {
      readonly kind: 'append';
      readonly runId: string;
      readonly entries: readonly RunEntry[];
      readonly update: RunUpdate | undefined;
      readonly states: readonly EntryState[] | undefined;
    };

/** The text of an entry: its JSON body, and its state value's JSON (null when not recorded). */
interface EntryText {
  readonly body: string;
  readonly state: string | null;
}

interface Queued {
  readonly write: Write;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Counters of the group commit: how many writes each commit carried. */
export interface SqliteStoreStats {
  commits: number;
  writes: number;
  entries: number;
}

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
  readonly stats: SqliteStoreStats = { commits: 0, writes: 0, entries: 0 };
  readonly #db: Database.Database;
  readonly #held = new Map<string, string>();
  readonly #process = currentProcess();
  #queue: Queued[] = [];
  #scheduled = false;
  #closed = false;
  readonly #sql: Statements;
  /** Applies a batch of writes in one transaction; returns the writes refused before they wrote anything, and the runs' new entry counts. */
  readonly #commitBatch: Database.Transaction<
    (batch: readonly Queued[]) => { refused: Map<Queued, unknown>; counts: Map<string, RunKey | null> }
  >;
  /**
   * Entry counts of the runs this store wrote, as committed: saves a read per append. Should another process
   * have appended meanwhile, the next entry's key is taken and the insert fails, so history is never
   * overwritten; the cache is then dropped and the write retried from the file.
   */
  readonly #counts = new Map<string, RunKey>();
  readonly #takeLock: Database.Transaction<(runId: string, owner: string) => void>;
  readonly #snapshot: <T>(read: () => T) => T;

  /** Prefer {@link SqliteRunStore.open}. */
  constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.path = path;
    this.#sql = prepareStatements(db);
    this.#commitBatch = db.transaction((batch: readonly Queued[]) => {
      const refused = new Map<Queued, unknown>();
      const counts = new Map<string, RunKey | null>();
      for (const q of batch) {
        const why = this.#write(q.write, counts);
        if (why !== undefined) refused.set(q, why);
      }
      return { refused, counts };
    });
    const readTransaction = db.transaction((read: () => unknown) => read());
    this.#snapshot = <T>(read: () => T) => readTransaction.deferred(read) as T;
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
    this.#flush();
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
    this.#flush();
    const limit = filter.limit ? filter.limit : -1;
    return this.#read('listing runs', () => {
      const rows = (filter.status ? this.#sql.listByStatus.all(filter.status, limit) : this.#sql.list.all(limit)) as RunRow[];
      return rows.map(toRecord);
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
    this.#flush();
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

  /** Whether a live process holds the run's lock. A holder on another host is assumed alive. */
  isDriven(runId: string): boolean {
    return this.holder(runId)?.alive ?? false;
  }

  /** Commits pending writes, releases the locks taken through this store, and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
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
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /**
   * Commits every queued write in one transaction, then settles each write's promise. A write whose run is
   * unknown (or already exists) is refused before it writes anything, so the others still commit together.
   * Should the batch fail for another reason, each write is retried in a transaction of its own, so one bad
   * write never takes the others down with it.
   */
  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    let refused: Map<Queued, unknown>;
    try {
      const result = this.#commitBatch.immediate(batch);
      refused = result.refused;
      this.#remember(result.counts);
      this.stats.commits++;
    } catch (error) {
      this.#counts.clear();
      if (batch.length === 1 || !isWriteError(error)) {
        const mapped = storeError(error, this.path, 'committing run history');
        for (const q of batch) q.reject(mapped);
        return;
      }
      refused = new Map();
      for (const q of batch) {
        try {
          const result = this.#commitBatch.immediate([q]);
          this.stats.commits++;
          const why = result.refused.get(q);
          if (why !== undefined) refused.set(q, why);
          this.#remember(result.counts);
        } catch (single) {
          this.#counts.clear();
          refused.set(q, storeError(single, this.path, 'committing run history'));
        }
      }
    }
    for (const q of batch) {
      const why = refused.get(q);
      if (why !== undefined) {
        q.reject(why);
        continue;
      }
      this.stats.writes++;
      this.stats.entries += q.write.entries.length;
      q.resolve();
    }
  }

  /** Caches committed entry counts; a run that ended is forgotten (later appends to it read the file). */
  #remember(counts: ReadonlyMap<string, RunKey | null>): void {
    for (const [runId, key] of counts) {
      if (key === null) this.#counts.delete(runId);
      else this.#counts.set(runId, key);
    }
  }

  /** Performs one write inside the batch's transaction, or returns why it is refused (having written nothing). */
  #write(write: Write, counts: Map<string, RunKey | null>): LockstepError | undefined {
    const texts = write.entries.map((e, i): EntryText => {
      const state = write.states?.[i];
      return { body: JSON.stringify(e), state: state === undefined ? null : JSON.stringify(state) };
    });
    if (write.kind === 'create') {
      const runId = write.record.runId;
      if (counts.has(runId) || this.#sql.getKey.get(runId)) return new LockstepError(ErrorCode.invalidUsage, `run ${runId} already exists`);
      const id = this.#create(write.record, write.entries, texts);
      counts.set(runId, { id, count: write.entries.length });
      return undefined;
    }
    const { runId } = write;
    const cached = counts.has(runId) ? counts.get(runId) : this.#counts.get(runId);
    const key = cached ?? (this.#sql.getKey.get(runId) as RunKey | undefined);
    if (!key) return new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
    this.#append(key, write.entries, texts, write.update);
    const ended = write.update?.status !== undefined && write.update.status !== 'running';
    counts.set(runId, ended ? null : { id: key.id, count: key.count + write.entries.length });
    return undefined;
  }

  #create(record: RunRecord, entries: readonly RunEntry[], texts: readonly EntryText[]): number {
    const { lastInsertRowid } = this.#sql.insertRun.run({
      run_id: record.runId,
      sequence: record.sequence,
      version: record.version,
      definition_id: this.#definitionId(record),
      definition_hash: record.definitionHash,
      source: record.source ?? null,
      status: record.status,
      created_at: record.createdAt,
      updated_at: record.updatedAt,
      current_task: record.currentTask ?? null,
      reason: record.reason ?? null,
      rerun_of: record.rerunOf ?? null,
      entry_count: entries.length,
    });
    const id = Number(lastInsertRowid);
    this.#sql.insertInput.run(id, JSON.stringify(record.input ?? null));
    this.#insertEntries(id, 0, entries, texts);
    return id;
  }

  /** The row of the run's exact definition text, shared by every run with the same text. */
  #definitionId(record: RunRecord): number {
    const rows = this.#sql.definitionsByHash.all(record.definitionHash) as Array<{ id: number; text: string }>;
    const same = rows.find((r) => r.text === record.definition);
    if (same) return same.id;
    return Number(this.#sql.insertDefinition.run(record.definitionHash, record.definition).lastInsertRowid);
  }

  #append(key: RunKey, entries: readonly RunEntry[], texts: readonly EntryText[], update: RunUpdate | undefined): void {
    this.#insertEntries(key.id, key.count, entries, texts);
    const task = update?.currentTask;
    this.#sql.updateRun.run(
      key.count + entries.length,
      entries[entries.length - 1]?.at ?? null,
      update?.status ?? null,
      update?.reason ?? null,
      task === undefined ? 0 : task === null ? 1 : 2,
      task ?? null,
      key.id,
    );
  }

  #insertEntries(run: number, first: number, entries: readonly RunEntry[], texts: readonly EntryText[]): void {
    for (let i = 0; i < entries.length; i++)
      this.#sql.insertEntry.run(run, first + i, entries[i]!.at, entries[i]!.type, texts[i]!.body, texts[i]!.state);
  }
}

/**
 * Whether an error may concern one write only (a constraint, a value that does not serialise) rather than the
 * store as a whole (busy, full, I/O, corrupt, read-only): only the former are worth retrying write by write.
 */
function isWriteError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_BUSY') ||
      code.startsWith('SQLITE_IOERR') ||
      code === 'SQLITE_FULL' ||
      code.startsWith('SQLITE_CORRUPT') ||
      code.startsWith('SQLITE_READONLY'))
  )
    return false;
  return true;
}
