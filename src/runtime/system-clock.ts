import type { Clock } from '../ports/clock.js';

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  // Timers keep the process alive: a run waiting on a backoff is still work to do.
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
