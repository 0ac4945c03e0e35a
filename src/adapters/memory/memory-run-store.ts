import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { Signal } from '../../core/run/signal.js';
import type { AttemptLog, AttemptLogChunk, AttemptLogFilter } from '../../ports/attempt-logs.js';
import { foldChunks } from '../../ports/attempt-logs.js';
import type { AttemptProcess } from '../../ports/attempt-processes.js';
import type { EntryState, Release, RunFilter, RunRecord, RunStore, RunUpdate, StoredRun } from '../../ports/run-store.js';
import { newestFirst, recordMatches } from '../../ports/run-store.js';
import type { StoredSignal } from '../../ports/signal-inbox.js';

/** A run store that lives in memory: the embedded default for library use and benchmarks. */
export class MemoryRunStore implements RunStore {
  readonly #runs = new Map<string, { record: RunRecord; history: RunEntry[]; states: EntryState[] }>();
  readonly #locks = new Map<string, string>();
  /** Attempt process groups by run, then by `<task>#<attempt>`, in the order they were recorded. */
  readonly #processes = new Map<string, Map<string, AttemptProcess>>();
  /** Attempt log chunks by run, as they came. */
  readonly #logs = new Map<string, AttemptLogChunk[]>();
  /** Signals not yet applied, by id: a map keeps the order they were added in. */
  readonly #signals = new Map<number, StoredSignal>();
  #lastSignalId = 0;
  /** Only this process holds the store: its signals are applied as they are added, with nothing to poll. */
  readonly sharedInbox = false;

  async create(record: RunRecord, entries: readonly RunEntry[], states?: readonly EntryState[]): Promise<void> {
    if (this.#runs.has(record.runId)) throw new LockstepError(ErrorCode.invalidUsage, `run ${record.runId} already exists`);
    this.#runs.set(record.runId, { record, history: [...entries], states: entries.map((_, i) => states?.[i]) });
  }

  async append(runId: string, entries: readonly RunEntry[], update?: RunUpdate, states?: readonly EntryState[]): Promise<void> {
    const run = this.#runs.get(runId);
    if (!run) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
    for (let i = 0; i < entries.length; i++) {
      run.history.push(entries[i]!);
      run.states.push(states?.[i]);
    }
    const last = entries[entries.length - 1];
    // Records are private to the store (get and list hand out copies), so they are updated in place.
    const record = run.record as { -readonly [K in keyof RunRecord]: RunRecord[K] };
    if (last) record.updatedAt = last.at;
    if (!update) return;
    if (update.status !== undefined) record.status = update.status;
    if (update.reason !== undefined) record.reason = update.reason;
    if (update.currentTask === null) delete record.currentTask;
    else if (update.currentTask !== undefined) record.currentTask = update.currentTask;
  }

  async get(runId: string): Promise<StoredRun | undefined> {
    const run = this.#runs.get(runId);
    return run && { record: { ...run.record }, history: [...run.history], states: [...run.states] };
  }

  async list(filter: RunFilter = {}): Promise<RunRecord[]> {
    const all = [...this.#runs.values()].filter((r) => recordMatches(r.record, filter)).map((r) => ({ ...r.record }));
    all.sort(newestFirst);
    return filter.limit ? all.slice(0, filter.limit) : all;
  }

  async lock(runId: string, owner: string): Promise<Release> {
    const holder = this.#locks.get(runId);
    if (holder !== undefined && holder !== owner) {
      throw new LockstepError(ErrorCode.runLocked, `run ${runId} is being driven by ${holder}`);
    }
    this.#locks.set(runId, owner);
    return () => {
      if (this.#locks.get(runId) === owner) this.#locks.delete(runId);
    };
  }

  async recordAttemptProcess(process: AttemptProcess): Promise<void> {
    if (!this.#runs.has(process.runId)) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${process.runId}`);
    const byAttempt = this.#processes.get(process.runId) ?? new Map<string, AttemptProcess>();
    const key = `${process.task}#${process.attempt}`;
    byAttempt.delete(key);
    byAttempt.set(key, { ...process });
    this.#processes.set(process.runId, byAttempt);
  }

  async clearAttemptProcess(runId: string, task: string, attempt: number): Promise<void> {
    const byAttempt = this.#processes.get(runId);
    byAttempt?.delete(`${task}#${attempt}`);
    if (byAttempt?.size === 0) this.#processes.delete(runId);
  }

  async attemptProcesses(runId: string): Promise<AttemptProcess[]> {
    return [...(this.#processes.get(runId)?.values() ?? [])].map((p) => ({ ...p }));
  }

  async appendLogs(chunks: readonly AttemptLogChunk[]): Promise<void> {
    const unknown = chunks.find((c) => !this.#runs.has(c.runId));
    if (unknown) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${unknown.runId}`);
    for (const chunk of chunks) {
      const kept = this.#logs.get(chunk.runId) ?? [];
      kept.push({ ...chunk, lines: chunk.lines.map((l) => ({ ...l })) });
      this.#logs.set(chunk.runId, kept);
    }
  }

  async attemptLogs(runId: string, filter?: AttemptLogFilter): Promise<AttemptLog[]> {
    return foldChunks(this.#logs.get(runId) ?? [], filter);
  }

  async addSignal(runId: string, signal: Signal, at: number): Promise<StoredSignal> {
    if (!this.#runs.has(runId)) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId}`);
    const stored: StoredSignal = { id: ++this.#lastSignalId, runId, signal: structuredClone(signal), at };
    this.#signals.set(stored.id, stored);
    return structuredClone(stored);
  }

  async pendingSignals(runIds?: readonly string[]): Promise<StoredSignal[]> {
    const wanted = runIds && new Set(runIds);
    return [...this.#signals.values()].filter((s) => !wanted || wanted.has(s.runId)).map((s) => structuredClone(s));
  }

  async removeSignal(id: number): Promise<void> {
    this.#signals.delete(id);
  }

  /** Its runs live in this process: a locked run is driven by it. */
  isDriven(runId: string): boolean {
    return this.#locks.has(runId);
  }

  async close(): Promise<void> {}
}

/** Applies a status change to a record. Shared by stores. */
export function applyUpdate(record: RunRecord, update: RunUpdate | undefined, at: number): RunRecord {
  if (!update) return { ...record, updatedAt: at };
  const { currentTask, ...rest } = record;
  const next: RunRecord = {
    ...rest,
    ...(update.status ? { status: update.status } : {}),
    ...(update.reason ? { reason: update.reason } : {}),
    updatedAt: at,
  };
  const task = update.currentTask === undefined ? currentTask : (update.currentTask ?? undefined);
  return task === undefined ? next : { ...next, currentTask: task };
}
