import type { Clock, TimerHandle } from '../ports/clock.js';

/** Node's limit on one timer's delay: a longer delay (or one that is not a number) runs after 1 ms. */
const NODE_MAX_DELAY_MS = 2 ** 31 - 1;

interface Pending {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to. `advance` fires due timers in due order, so a 10-minute backoff
 * takes no real time. `autoAdvance` jumps to the next timer whenever the runtime is otherwise idle.
 *
 * Its `setTimeout` keeps Node's limit: a delay above 2^31-1 ms runs after 1 ms, as the real one does, so code
 * that arms long timers in one go fails under test as it would in production.
 */
export class SimulatedClock implements Clock {
  #now: number;
  #nextId = 1;
  #pending: Pending[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const delay = delayMs > NODE_MAX_DELAY_MS || Number.isNaN(delayMs) ? 1 : Math.max(0, delayMs);
    const timer = { id: this.#nextId++, due: this.#now + delay, callback };
    this.#pending.push(timer);
    this.#pending.sort((a, b) => a.due - b.due || a.id - b.id);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((t) => t.id !== handle);
  }

  /** Number of timers waiting. */
  get pendingTimers(): number {
    return this.#pending.length;
  }

  /** Due time of the next timer, if any. */
  nextDue(): number | undefined {
    return this.#pending[0]?.due;
  }

  /** Moves time forward by `ms`, firing every timer that comes due, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#pending[0];
      if (!next || next.due > target) break;
      this.#pending.shift();
      this.#now = next.due;
      next.callback();
    }
    this.#now = target;
  }

  /**
   * Jumps to the next timer and fires it alone: others due at the same moment stay pending, each for a call of its
   * own, so that what the first one sets off can be seen before the next fires. Returns false when none is pending.
   */
  fireOne(): boolean {
    const next = this.#pending.shift();
    if (!next) return false;
    this.#now = Math.max(this.#now, next.due);
    next.callback();
    return true;
  }

  /** Jumps to the next timer and fires it (and any due at the same time). Returns false when none is pending. */
  fireNext(): boolean {
    const next = this.#pending[0];
    if (!next) return false;
    this.advance(next.due - this.#now);
    return true;
  }
}
