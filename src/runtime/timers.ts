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

/**
 * How far off its hop's own wait the clock may be on waking before a timer takes it as stepped: far more than a
 * timer wakes early or late by on a busy machine, far less than a clock step worth correcting.
 */
export const CLOCK_STEP_MS = 1_000;

/** Options of {@link TimerService}. */
export interface TimerServiceOptions {
  /** Longest single delay handed to the clock; a timer due later is re-armed hop by hop. @default MAX_TIMER_HOP_MS */
  readonly maxHopMs?: number;
}

/**
 * Arms run timers on a clock and calls `fire` when one comes due. A timer fires only once the clock's `now()`
 * has reached its due time: each wake-up (a hop of a long timer, or a clock that wakes a little early) checks the
 * time again and re-arms for what is left. A step of the clock (forward or back) neither delays a timer nor makes it
 * fire early: see `#hop`.
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
    this.#hop(`${timer.runId}\u0000${timer.timerId}`, timer, timer.dueAt);
  }

  /**
   * Waits for `target`, the timer's due time on this process's clock. A hop's own wait is monotonic; the clock is
   * not: when, on waking, `now()` is off from where the hop's wait says it is by more than {@link CLOCK_STEP_MS},
   * the clock was stepped (an NTP step, a VM restored) and the target moves with it, so that a timer waits the time
   * it was armed for: a clock set back does not delay it by the step, one set forward does not make a long
   * (chained) timer fire before its wait is over.
   */
  #hop(key: string, timer: DueTimer, target: number): void {
    const armedAt = this.#clock.now();
    const delay = Math.min(Math.max(0, target - armedAt), this.#maxHopMs);
    const handle = this.#clock.setTimeout(() => {
      if (this.#armed.get(key)?.handle !== handle) return; // disarmed or re-armed meanwhile
      const now = this.#clock.now();
      // How far the clock moved beyond the hop's own wait: a step, when it is more than a late or early wake-up.
      const step = now - (armedAt + delay);
      // The step as measured also holds how early this hop woke (up to a millisecond: setTimeout keeps whole
      // milliseconds of a clock read once per loop turn); one more millisecond keeps the timer from firing early.
      const due = Math.abs(step) > CLOCK_STEP_MS ? target + step + 1 : target;
      if (now < due) {
        this.#hop(key, timer, due);
        return;
      }
      this.#armed.delete(key);
      this.#fire(timer);
    }, delay);
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
