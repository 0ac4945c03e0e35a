/**
 * Tasks on a queue without a local handler belong to remote services that report through the run service
 * (`POST /api/ingest`): their attempt stays in flight here until the run ends or cancels it, and never reports
 * itself.
 */
export class RemoteAttempts {
  readonly #byRun = new Map<string, Set<() => void>>();

  wait(runId: string, signal: AbortSignal): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const set = this.#byRun.get(runId) ?? new Set();
      this.#byRun.set(runId, set);
      const stop = () => {
        set.delete(stop);
        if (set.size === 0) this.#byRun.delete(runId);
        reject(new Error(`attempt ended: ${String(signal.reason ?? 'run ended')}`));
      };
      set.add(stop);
      signal.addEventListener('abort', stop, { once: true });
    });
  }

  /** Ends the attempts of a run that finished: their late reports are counted, never applied. */
  release(runId: string): void {
    for (const stop of [...(this.#byRun.get(runId) ?? [])]) stop();
  }
}
