// Checks over a side-effect log (what recorded tasks wrote themselves): double executions and overlaps.
import type { TaskExecution } from '../../../src/testing/history-checker.js';

export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** An attempt (run, task, attempt) that executed more than once, its executions by start time. */
export interface RepeatedAttempt {
  readonly key: string;
  readonly executions: readonly TaskExecution[];
}

/** Attempts that executed more than once. */
export function repeatedAttempts(executions: readonly TaskExecution[]): RepeatedAttempt[] {
  return [...groupBy(executions, (e) => `${e.runId} ${e.taskId} ${e.attempt}`)]
    .filter(([, list]) => list.length > 1)
    .map(([key, list]) => ({ key, executions: [...list].sort((a, b) => a.startedAt - b.startedAt) }));
}

/**
 * Executions of one run that overlap in time (a run is one task at a time, redone attempts included): each one
 * says which two. An execution with no end (its process was killed) overlaps whatever of its run starts later.
 */
export function overlaps(executions: readonly TaskExecution[]): string[] {
  const out: string[] = [];
  for (const [runId, list] of groupBy(executions, (e) => e.runId)) {
    const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      if (a.endedAt === undefined || a.endedAt > b.startedAt)
        out.push(
          `${runId}: ${a.taskId} attempt ${a.attempt} (${a.startedAt}-${a.endedAt ?? 'no end'}) overlaps ${b.taskId} attempt ${b.attempt} (from ${b.startedAt})`,
        );
    }
  }
  return out;
}
