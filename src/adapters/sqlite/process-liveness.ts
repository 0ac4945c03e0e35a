import { hostname } from 'node:os';
import { exited, processStart, procStat } from '../process/process-identity.js';

/** The process that holds a run lock, as recorded in the store. */
export interface LockHolder {
  readonly owner: string;
  readonly pid: number;
  /** When the process started (Linux: clock ticks since boot), to tell a reused pid from the holder; null elsewhere. */
  readonly pidStart: string | null;
  readonly host: string;
  readonly acquiredAt: number;
}

export { processStart };

/** This process, as a lock holder records it. */
export function currentProcess(): { pid: number; pidStart: string | null; host: string } {
  return { pid: process.pid, pidStart: processStart(process.pid), host: hostname() };
}

/**
 * Whether a lock holder may still be alive. Only holders on this host can be checked: a holder elsewhere is
 * assumed alive. A zombie is dead, and a pid that exists but started at another time than the holder is a reused
 * pid: in both cases the holder is gone.
 */
export function holderAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(holder.pid);
  if (stat === null) return true;
  // A zombie has exited and only waits for its parent to reap it.
  if (exited(stat)) return false;
  return holder.pidStart === null || stat.start === holder.pidStart;
}
