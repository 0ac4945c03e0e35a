import type { Clock, TimerHandle } from '../ports/clock.js';

/** A run's timer with its absolute due time, so it survives restarts and fires at its original time. */
export interface DueTimer {
  readonly runId: string;
  readonly timerId: string;
  readonly dueAt: number;
}

/** Arms run timers on a clock and calls `fire` when one comes due. */
export class TimerService {
  readonly #clock: Clock;
  readonly #fire: (timer: DueTimer) => void;
  readonly #armed = new Map<string, { timer: DueTimer; handle: TimerHandle }>();

  constructor(clock: Clock, fire: (timer: DueTimer) => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  /** Arms a timer for its due time; a due time in the past fires on the next tick. */
  arm(timer: DueTimer): void {
    const key = `${timer.runId}\u0000${timer.timerId}`;
    this.disarm(timer.runId, timer.timerId);
    const handle = this.#clock.setTimeout(() => {
      this.#armed.delete(key);
      this.#fire(timer);
    }, Math.max(0, timer.dueAt - this.#clock.now()));
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
