import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The process that holds a run lock, as recorded in the store. */
export interface LockHolder {
  readonly owner: string;
  readonly pid: number;
  /** When the process started (Linux: clock ticks since boot), to tell a reused pid from the holder; null elsewhere. */
  readonly pidStart: string | null;
  readonly host: string;
  readonly acquiredAt: number;
}

/** State (field 3) and start time (field 22) of a process from `/proc/<pid>/stat`, or null where there is no procfs. */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return null;
  }
}

/** The start time of a process (Linux: clock ticks since boot), or null where it cannot be read. */
export function processStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

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
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return holder.pidStart === null || stat.start === holder.pidStart;
}
