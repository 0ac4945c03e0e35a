import { ErrorCode, LockstepError } from '../core/errors.js';
import type { Signal } from '../core/run/signal.js';
import { InvalidSignalError } from '../core/run/signal.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { SignalOutcome } from '../ports/run-service.js';
import type { SignalInbox, StoredSignal } from '../ports/signal-inbox.js';

/** How often a runtime looks for signals other processes added: a signal is picked up well within a second. */
export const SIGNAL_POLL_MS = 250;

/** Most runs a pass names to the store; with more, it reads every pending signal. */
const NAMED_RUNS_MAX = 256;

/** Options of {@link SignalPoller}. */
export interface SignalPollerOptions {
  readonly inbox: SignalInbox;
  readonly clock: Clock;
  /** The runs this process drives: only their signals are applied here. */
  readonly driven: () => readonly string[];
  /** Applies a signal to a run driven here; resolves once what it did is recorded (`Orchestrator.signal`). */
  readonly apply: (runId: string, signal: Signal) => Promise<SignalOutcome>;
  /** Looks every this many ms; `false`: only when poked. @default {@link SIGNAL_POLL_MS} */
  readonly intervalMs?: number | false;
  /** Told when a pass fails (the store cannot be read); the next pass tries again. @default nothing */
  readonly onError?: (error: unknown) => void;
  /** Told of a signal that can never apply (its problems); it is removed. @default nothing */
  readonly onRefused?: (runId: string, error: InvalidSignalError) => void;
}

/**
 * Applies the signals waiting in the inbox for the runs this process drives, one after the other in the order
 * they were added: each is removed once what it did is recorded. A crash between the two only has the next
 * process apply it again, and the run ignores it as a duplicate. Passes never overlap.
 */
export class SignalPoller {
  readonly #options: SignalPollerOptions;
  /** The pass under way (or the last one), so that passes run one after the other. */
  #chain: Promise<void> = Promise.resolve();
  /** A pass asked for that has not started: later asks share it. */
  #queued: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #closed = false;
  /** Who waits to learn what became of a signal, by its id. */
  readonly #waiters = new Map<number, Array<(outcome: SignalOutcome | undefined) => void>>();

  constructor(options: SignalPollerOptions) {
    this.#options = options;
    this.#arm();
  }

  /**
   * Looks at once (after the pass under way, if any). With the id of a signal just added, resolves with what it
   * did, or `undefined` when it was not applied here (its run is not driven by this process).
   */
  poke(id?: number): Promise<SignalOutcome | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    if (id === undefined) return this.#schedule().then(() => undefined);
    const outcome = new Promise<SignalOutcome | undefined>((resolve) => {
      const waiting = this.#waiters.get(id) ?? [];
      waiting.push(resolve);
      this.#waiters.set(id, waiting);
    });
    void this.#schedule();
    return outcome;
  }

  /** Stops looking; resolves once the pass under way has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
    for (const id of [...this.#waiters.keys()]) this.#settle(id, undefined);
  }

  #arm(): void {
    const interval = this.#options.intervalMs ?? SIGNAL_POLL_MS;
    if (interval === false || this.#closed) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#schedule().finally(() => this.#arm());
    }, interval);
  }

  #schedule(): Promise<void> {
    if (this.#queued) return this.#queued;
    const pass = this.#chain.then(() => {
      this.#queued = undefined;
      return this.#pass();
    });
    this.#queued = pass;
    this.#chain = pass;
    return pass;
  }

  /** One look at the inbox; never rejects (a failure goes to `onError`). */
  async #pass(): Promise<void> {
    // Who waits now learns the outcome in this pass: its signal was added before it started.
    const waiting = [...this.#waiters.keys()];
    try {
      const runs = this.#options.driven();
      if (this.#closed || runs.length === 0) return;
      const pending = await this.#pending(runs);
      for (const stored of pending) {
        if (this.#closed) return;
        let outcome: SignalOutcome;
        try {
          outcome = await this.#options.apply(stored.runId, stored.signal);
        } catch (error) {
          // A run no longer driven here: whoever drives it next applies it.
          if (error instanceof LockstepError && error.code === ErrorCode.unknownRun) continue;
          if (!(error instanceof InvalidSignalError)) throw error;
          // It can never apply: it goes, as a surface would have refused it.
          await this.#options.inbox.removeSignal(stored.id);
          this.#options.onRefused?.(stored.runId, error);
          this.#settle(stored.id, undefined);
          continue;
        }
        await this.#options.inbox.removeSignal(stored.id);
        this.#settle(stored.id, outcome);
      }
    } catch (error) {
      this.#options.onError?.(error);
    } finally {
      for (const id of waiting) this.#settle(id, undefined);
    }
  }

  /**
   * The pending signals of the runs driven here. Signals are few, and runs in flight may be many: past a few
   * hundred runs, reading every signal and keeping theirs costs less than naming every run to the store.
   */
  async #pending(runs: readonly string[]): Promise<StoredSignal[]> {
    if (runs.length <= NAMED_RUNS_MAX) return this.#options.inbox.pendingSignals(runs);
    const driven = new Set(runs);
    return (await this.#options.inbox.pendingSignals()).filter((s) => driven.has(s.runId));
  }

  #settle(id: number, outcome: SignalOutcome | undefined): void {
    const waiting = this.#waiters.get(id);
    if (!waiting) return;
    this.#waiters.delete(id);
    for (const resolve of waiting) resolve(outcome);
  }
}
