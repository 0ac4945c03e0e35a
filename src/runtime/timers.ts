import type { Clock, TimerHandle } from '../ports/clock.js';

/** A run's timer with its absolute due time, so it survives restarts and fires at its original time. */
export interface DueTimer {
  readonly runId: string;
  readonly timerId: string;
  readonly dueAt: number;
}

/**
 * The longest delay one `setTimeout` takes (2^31-1 ms, about 24.8 days). Node runs a longer delay after 1 ms
 * instead, so longer timers are armed as a chain of hops no longer than this.
 */
export const MAX_TIMER_HOP_MS = 2 ** 31 - 1;

/** Options of {@link TimerService}. */
export interface TimerServiceOptions {
  /** Longest single delay handed to the clock; a timer due later is re-armed hop by hop. @default MAX_TIMER_HOP_MS */
  readonly maxHopMs?: number;
}

/**
 * Arms run timers on a clock and calls `fire` when one comes due. A timer fires only once the clock's `now()`
 * has reached its due time: each wake-up (a hop of a long timer, or a clock that wakes a little early) checks the
 * time again and re-arms for what is left.
 */
export class TimerService {
  readonly #clock: Clock;
  readonly #fire: (timer: DueTimer) => void;
  readonly #maxHopMs: number;
  readonly #armed = new Map<string, { timer: DueTimer; handle: TimerHandle }>();

  constructor(clock: Clock, fire: (timer: DueTimer) => void, options: TimerServiceOptions = {}) {
    this.#clock = clock;
    this.#fire = fire;
    this.#maxHopMs = Math.max(1, Math.min(options.maxHopMs ?? MAX_TIMER_HOP_MS, MAX_TIMER_HOP_MS));
  }

  /** Arms a timer for its due time; a due time in the past fires on the next tick. */
  arm(timer: DueTimer): void {
    this.disarm(timer.runId, timer.timerId);
    this.#hop(`${timer.runId}\u0000${timer.timerId}`, timer);
  }

  #hop(key: string, timer: DueTimer): void {
    const left = Math.max(0, timer.dueAt - this.#clock.now());
    const handle = this.#clock.setTimeout(
      () => {
        if (this.#armed.get(key)?.handle !== handle) return; // disarmed or re-armed meanwhile
        if (this.#clock.now() < timer.dueAt) {
          this.#hop(key, timer);
          return;
        }
        this.#armed.delete(key);
        this.#fire(timer);
      },
      Math.min(left, this.#maxHopMs),
    );
    this.#armed.set(key, { timer, handle });
  }

  disarm(runId: string, timerId: string): void {
    const key = `${runId}\u0000${timerId}`;
    const armed = this.#armed.get(key);
    if (armed) {
      this.#clock.clearTimeout(armed.handle);
      this.#armed.delete(key);
    }
  }

  /** Disarms every timer of a run. */
  disarmRun(runId: string): void {
    for (const { timer } of [...this.#armed.values()]) if (timer.runId === runId) this.disarm(runId, timer.timerId);
  }

  /** Disarms everything (shutdown). */
  clear(): void {
    for (const { timer } of [...this.#armed.values()]) this.disarm(timer.runId, timer.timerId);
  }

  get size(): number {
    return this.#armed.size;
  }
}
