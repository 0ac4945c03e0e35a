// The side-effect log of the embedded-mode scenarios: each shell attempt appends its start and its end (or
// `stopped`, from its SIGTERM trap, when a resume stops it as an orphan) to $EXEC_LOG, with its idempotency key and
// a nanosecond time. The checks over it: no task that had finished ran again, finally tasks once.
import { existsSync, readFileSync } from 'node:fs';
import { loadSequenceFile } from '../../../src/adapters/fs/load-sequence.js';
import type { RunEntry } from '../../../src/core/protocol/run-entry.js';
import type { HistoryReport, TaskExecution } from '../../../src/testing/history-checker.js';
import { checkHistory } from '../../../src/testing/history-checker.js';
import { overlaps } from './side-effects.js';

/** A shell line that appends `<what> <key> <run> <task>.<phase> <attempt> <ns>` to $EXEC_LOG. */
export const attemptLine = (what: string): string =>
  `echo "${what} $LOCKSTEP_IDEMPOTENCY_KEY $LOCKSTEP_RUN_ID $LOCKSTEP_TASK_ID.$LOCKSTEP_PHASE $LOCKSTEP_ATTEMPT $(date +%s%N)" >> "$EXEC_LOG"`;

/**
 * A trap that logs `stopped` and exits when the attempt's process group gets SIGTERM. The attempt's output goes to
 * /dev/null first: once the process that ran it has died, its stdout and stderr are pipes nobody reads, and the
 * shell would die of SIGPIPE before its trap could log.
 */
export const stoppedTrap = `exec >/dev/null 2>&1; trap '${attemptLine('stopped').replaceAll("'", "'\\''")}; exit 143' TERM`;

/** One execution as the attempt logged it; `how` is `end` or `stopped`, absent when its shell died unlogged. */
export interface LoggedExecution extends TaskExecution {
  readonly key: string;
  readonly how?: string;
}

/** Milliseconds (with microseconds) from `date +%s%N`: a Number holds them exactly enough, nanoseconds it does not. */
const ms = (ns: string) => Number(BigInt(ns) / 1000n) / 1000;

/** Reads the log; a compensation or finally phase is named `<task>.<phase>` as the checker expects. */
export function loggedExecutions(file: string): LoggedExecution[] {
  if (!existsSync(file)) return [];
  const open = new Map<string, { -readonly [K in keyof LoggedExecution]: LoggedExecution[K] }>();
  const all: LoggedExecution[] = [];
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    const [what, key, runId, task, attempt, at] = l.split(' ');
    if (!key || !runId || !task || !attempt || !at || !/^\d+$/.test(at)) continue;
    const [taskId, phase] = task.split('.') as [string, string];
    const id = `${runId} ${task} ${attempt}`;
    if (what === 'start') {
      const e = { key, runId, taskId: phase === 'main' ? taskId : `${taskId}.${phase}`, attempt: Number(attempt), startedAt: ms(at) };
      open.set(id, e);
      all.push(e);
    } else {
      const e = open.get(id);
      if (e) {
        e.endedAt = ms(at);
        e.how = what;
        open.delete(id);
      }
    }
  }
  return all;
}

/**
 * What broke the promises of a resume over the log: a task that ran again after its success was recorded, a
 * finally task that did not succeed exactly once. One message per break.
 */
export function resumeBreaks(
  runs: ReadonlyArray<{ record: { runId: string }; history: readonly RunEntry[] }>,
  executions: readonly TaskExecution[],
  finallyTask: string,
): string[] {
  const out: string[] = [];
  const byRun = new Map<string, TaskExecution[]>();
  for (const x of executions) byRun.set(x.runId, [...(byRun.get(x.runId) ?? []), x]);
  for (const r of runs) {
    const xs = byRun.get(r.record.runId) ?? [];
    for (const e of r.history) {
      if (e.type !== 'task.succeeded') continue;
      for (const x of xs.filter((x) => x.taskId === e.task && x.startedAt > e.at))
        out.push(`${r.record.runId}: ${e.task} ran again (attempt ${x.attempt}) after its success was recorded`);
    }
    const fin = r.history.filter((e) => e.type === 'task.succeeded' && e.task === finallyTask).length;
    if (fin !== 1) out.push(`${r.record.runId}: finally task ${finallyTask} succeeded ${fin} times`);
  }
  return out;
}

/** What the store and the log of an embedded scenario say, checked together. */
export interface EmbeddedCheck {
  /** The history checker over the store's runs of `file`'s sequence, with the logged executions. */
  readonly report: HistoryReport;
  /** Executions with no end: their shell died before its trap could log, so they tell nothing of when they stopped. */
  readonly unended: number;
  /** Executions that ended and overlapped another execution of their run. */
  readonly overlapping: ReturnType<typeof overlaps>;
  /** Orphaned attempts a resume stopped (logged as `stopped` by their SIGTERM trap). */
  readonly stopped: number;
}

/** Checks the runs of `file`'s sequence in a store, `expectedRunIds` among them, with the logged executions. */
export function checkEmbedded(
  runs: ReadonlyArray<{ record: { runId: string }; history: readonly RunEntry[] }>,
  expectedRunIds: readonly string[],
  file: string,
  executions: readonly LoggedExecution[],
): EmbeddedCheck {
  const sequence = loadSequenceFile(file).sequence;
  const report = checkHistory(
    runs.map((r) => ({ runId: r.record.runId, entries: r.history })),
    {
      sequenceOf: (name, version) => (name === sequence.name && version === sequence.version ? sequence : undefined),
      expectedRunIds,
      executions,
    },
  );
  return {
    report,
    unended: executions.filter((x) => x.endedAt === undefined).length,
    overlapping: overlaps(executions.filter((x) => x.endedAt !== undefined)),
    stopped: executions.filter((x) => x.how === 'stopped').length,
  };
}
