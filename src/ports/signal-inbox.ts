import type { Signal } from '../core/run/signal.js';

/** A signal as the inbox keeps it until the process that drives its run applies it. */
export interface StoredSignal {
  /** Given by the inbox, increasing in the order signals were added; never reused. */
  readonly id: number;
  readonly runId: string;
  readonly signal: Signal;
  /** When it was added, in ms since the epoch. */
  readonly at: number;
}

/**
 * Signals recorded for runs' wait tasks, waiting to be applied. A surface (`lockstep signal`, the API) adds one; the
 * process that drives the run (or `lockstep resume`, once it takes the run) applies it, then removes it. A signal
 * applied and not yet removed when that process dies is applied again by the next one, and the run ignores it as a
 * duplicate: none is lost, and none advances a run twice.
 */
export interface SignalInbox {
  /**
   * Whether processes other than this one can add signals (a store file several processes open): the runtime then
   * polls the inbox. Signals added to an inbox of this process alone are applied as they are added.
   */
  readonly sharedInbox: boolean;
  /**
   * Adds a signal for a run; resolves once it is durable.
   *
   * @throws LockstepError `UNKNOWN_RUN` for a run the store does not have.
   */
  addSignal(runId: string, signal: Signal, at: number): Promise<StoredSignal>;
  /** The signals not yet removed, of the given runs (all runs when absent), in the order they were added. */
  pendingSignals(runIds?: readonly string[]): Promise<StoredSignal[]>;
  /** Removes a signal once it is applied. Removing one that is not there does nothing. */
  removeSignal(id: number): Promise<void>;
}
