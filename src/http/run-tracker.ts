import { isFinalEntry } from '../core/protocol/run-entry.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Program, RunSnapshot } from '../core/step.js';
import type { LiveUpdate } from './backend.js';
import type { StateValue } from '../core/graph/model.js';
import { replay } from '../core/run/live-run.js';
import { stateView } from './run-view.js';

interface Tracked {
  readonly program: Program;
  snapshot: RunSnapshot;
  seq: number;
}

/**
 * Follows runs entry by entry, the way `replay` rebuilds them, so each live update carries the run's state
 * without replaying its whole history. A run is forgotten once it ends.
 */
export class RunTracker {
  readonly #runs = new Map<string, Tracked>();
  readonly #resolve: (sequence: string, version: string) => Program | undefined;

  constructor(resolve: (sequence: string, version: string) => Program | undefined) {
    this.#resolve = resolve;
  }

  /** Whether this tracker follows the run: it started in this process and has not ended. */
  tracks(runId: string): boolean {
    return this.#runs.has(runId);
  }

  /** Follows a run that this process takes over (resume), from the history recorded so far. */
  follow(runId: string, program: Program, history: readonly RunEntry[]): void {
    this.#runs.set(runId, { program, snapshot: replay(program, history).snapshot, seq: history.length - 1 });
  }

  /** Stops following a run (a takeover that failed). */
  forget(runId: string): void {
    this.#runs.delete(runId);
  }

  /** Applies one durable entry and returns the update to broadcast. */
  apply(entry: RunEntry): LiveUpdate {
    if (entry.type === 'run.started') {
      const program = this.#resolve(entry.sequence, entry.version);
      if (!program) return { entry, seq: 0 };
      const tracked: Tracked = { program, snapshot: program.start({ runId: entry.runId, input: entry.input }).snapshot, seq: 0 };
      this.#runs.set(entry.runId, tracked);
      return this.#update(entry, tracked);
    }
    const tracked = this.#runs.get(entry.runId);
    if (!tracked) return { entry, seq: -1 };
    tracked.seq++;
    if ('event' in entry && entry.type !== 'event.ignored') {
      const result = tracked.program.step(tracked.snapshot, entry.event);
      if (!result.ignored) tracked.snapshot = result.snapshot;
    }
    if (isFinalEntry(entry)) this.#runs.delete(entry.runId);
    return this.#update(entry, tracked);
  }

  #update(entry: RunEntry, tracked: Tracked): LiveUpdate {
    return { entry, seq: tracked.seq, state: stateView(tracked.snapshot.value as StateValue, tracked.snapshot.context) };
  }
}
