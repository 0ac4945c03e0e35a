import { readdirSync, readFileSync } from 'node:fs';

/**
 * What procfs says about a process: its state (field 3), process group (field 5) and start time (field 22, in
 * clock ticks since boot). Together with the boot id, the start time tells a process from a later one that was
 * given the same pid.
 */
export interface ProcStat {
  readonly state: string;
  readonly pgrp: number;
  readonly start: string;
}

/** Reads `/proc/<pid>/stat`, or null when the process does not exist or there is no procfs. */
export function procStat(pid: number): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]), start: fields[19] ?? '' };
  } catch {
    return null;
  }
}

/** The start time of a process (Linux: clock ticks since boot), or null where it cannot be read. */
export function processStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

/** A process that has exited and only waits for its parent to reap it. */
export const exited = (stat: ProcStat): boolean => stat.state === 'Z' || stat.state === 'X';

let cachedBootId: string | null | undefined;

/** This boot of the machine (Linux: /proc/sys/kernel/random/boot_id), or null where it cannot be read. */
export function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

/** The processes of a process group that have not exited, by scanning procfs. */
export function groupMembers(pgid: number): Array<{ pid: number; stat: ProcStat }> {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: Array<{ pid: number; stat: ProcStat }> = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.pgrp === pgid && !exited(stat)) members.push({ pid: Number(name), stat });
  }
  return members;
}
