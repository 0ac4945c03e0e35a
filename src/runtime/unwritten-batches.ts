import type { Work } from './pending-writes.js';

/**
 * Batches between their first step and their write, with who waits for them. A step made outside a batch (a
 * signal) waits for the batch that has stepped its run, so the run's entries are written in the order they were
 * made.
 */
export class UnwrittenBatches {
  readonly #waiters = new Map<Work, Array<() => void>>();

  /** Runs `write` for a batch; those waiting for it go on once it is written, or has failed. */
  async track<T>(work: Work, write: () => Promise<T>): Promise<T> {
    this.#waiters.set(work, []);
    try {
      return await write();
    } finally {
      const waiters = this.#waiters.get(work)!;
      this.#waiters.delete(work);
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once no batch that has stepped the run is still to be written. */
  async settled(runId: string): Promise<void> {
    for (let busy = this.#stepping(runId); busy; busy = this.#stepping(runId)) await busy;
  }

  #stepping(runId: string): Promise<void> | undefined {
    for (const [work, waiters] of this.#waiters) {
      if (work.runs.has(runId)) return new Promise((resolve) => waiters.push(resolve));
    }
    return undefined;
  }
}
