/** Exit codes of the `lockstep` command. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  invalid: 2,
  /** The store or the run is locked by another process, or the store is unusable. */
  unavailable: 3,
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
