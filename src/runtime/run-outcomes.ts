import type { FinalEntry } from '../core/protocol/run-entry.js';

/** Finished runs whose final entry is kept, at most (for waiters, and to tell late events from unknown ones). */
const MAX_FINISHED = 10_000;

/**
 * How runs ended, as an orchestrator knows it: the final entries of recently finished runs, the callers waiting
 * for a run to end, and the failure that ended the orchestrator itself, if one did. A waiter is resolved with the
 * run's final entry, or rejected with that failure, whichever comes first.
 */
export class RunOutcomes {
  readonly #finished = new Map<string, FinalEntry>();
  readonly #waiters = new Map<string, Array<{ resolve: (entry: FinalEntry) => void; reject: (error: unknown) => void }>>();
  #failure: { readonly error: unknown } | undefined;
  readonly #failureListeners: Array<(error: unknown) => void> = [];

  /** Why the orchestrator stopped, once it has. */
  get failure(): { readonly error: unknown } | undefined {
    return this.#failure;
  }

  /** Whether the run's final entry is kept here. */
  has(runId: string): boolean {
    return this.#finished.has(runId);
  }

  /** Keeps a finished run's final entry (the latest {@link MAX_FINISHED}). */
  remember(entry: FinalEntry): void {
    this.#finished.delete(entry.runId);
    this.#finished.set(entry.runId, entry);
    if (this.#finished.size > MAX_FINISHED) this.#finished.delete(this.#finished.keys().next().value!);
  }

  forget(runId: string): void {
    this.#finished.delete(runId);
  }

  /** The run ended: keeps its final entry and resolves its waiters. */
  ended(entry: FinalEntry): void {
    this.remember(entry);
    for (const { resolve } of this.#waiters.get(entry.runId) ?? []) resolve(entry);
    this.#waiters.delete(entry.runId);
  }

  /** Resolves with the run's final entry; rejects with the failure if the orchestrator fails first. */
  waitFor(runId: string): Promise<FinalEntry> {
    const done = this.#finished.get(runId);
    if (done) return Promise.resolve(done);
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(runId) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(runId, list);
    });
  }

  /** Records the orchestrator's failure and rejects every waiter with it. Returns false if it had failed already. */
  fail(error: unknown): boolean {
    if (this.#failure) return false;
    this.#failure = { error };
    for (const list of this.#waiters.values()) for (const w of list) w.reject(error);
    this.#waiters.clear();
    for (const listener of this.#failureListeners.splice(0)) listener(error);
    return true;
  }

  /** Resolves with the error once the orchestrator has failed; never otherwise. */
  whenFailed(): Promise<unknown> {
    if (this.#failure) return Promise.resolve(this.#failure.error);
    return new Promise((resolve) => this.#failureListeners.push(resolve));
  }
}
