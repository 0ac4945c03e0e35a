import type Database from 'better-sqlite3';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { EntryState, RunRecord, RunUpdate } from '../../ports/run-store.js';
import type { RunKey, Statements } from './statements.js';
import { storeError } from './store-file.js';

/** One write of run history: a run created with its first entries, or entries appended to a run. */
export type Write =
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
 * The group commit of a store's run history: every write queued in one tick of the event loop goes into one
 * transaction, and each write's promise settles once that transaction is committed and synced.
 */
export class GroupCommit {
  readonly stats: SqliteStoreStats = { commits: 0, writes: 0, entries: 0 };
  readonly #sql: Statements;
  readonly #path: string;
  #queue: Queued[] = [];
  #scheduled = false;
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

  constructor(db: Database.Database, sql: Statements, path: string) {
    this.#sql = sql;
    this.#path = path;
    this.#commitBatch = db.transaction((batch: readonly Queued[]) => {
      const refused = new Map<Queued, unknown>();
      const counts = new Map<string, RunKey | null>();
      for (const q of batch) {
        const why = this.#write(q.write, counts);
        if (why !== undefined) refused.set(q, why);
      }
      return { refused, counts };
    });
  }

  /** Queues a write for the commit made once this tick of the event loop is over; resolves once it is committed. */
  enqueue(write: Write): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits every queued write in one transaction, then settles each write's promise. A write whose run is
   * unknown (or already exists) is refused before it writes anything, so the others still commit together.
   * Should the batch fail for another reason, each write is retried in a transaction of its own, so one bad
   * write never takes the others down with it.
   */
  flush(): void {
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
        const mapped = storeError(error, this.#path, 'committing run history');
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
          refused.set(q, storeError(single, this.#path, 'committing run history'));
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
