/** An opaque timer handle. */
export type TimerHandle = unknown;

/** Time as the runtime sees it. Inject a simulated clock in tests; core code never reads time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
