import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';
import type { RunWalkResult } from './history/run-walk.js';
import { RunWalk } from './history/run-walk.js';

/**
 * The history checker: reads whole run histories (the history topic in Kafka mode, the run store in embedded
 * mode) and checks the invariants lockstep promises. The fault suite runs it after every scenario; users can run
 * it over their own logs (`lockstep check-history`).
 */

/** One run's history, in the order it happened (`seq` order on the history topic, entry order in a store). */
export interface RunHistory {
  readonly runId: string;
  readonly entries: readonly RunEntry[];
}

/** A `task.dispatch` seen on a command topic (redeliveries included): what workers were asked to run. */
export interface DispatchSeen {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly phase: string;
}

/** One execution of a task, as the task itself recorded it (a side-effect log): start and end times. */
export interface TaskExecution {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly startedAt: number;
  /** Absent when the process running it was killed. */
  readonly endedAt?: number;
}

/** What {@link checkHistory} needs besides the histories: the sequences, and what else was seen of the runs. */
export interface HistoryCheckOptions {
  /** The sequence a run ran, from its `run.started` entry: its tasks give the expected order, compensations and finally tasks. */
  readonly sequenceOf: (name: string, version: string) => Sequence | undefined;
  /** Runs that were started (by a load generator, say): each one missing from the histories is lost. */
  readonly expectedRunIds?: readonly string[];
  /** Dispatches read off the command topics, for the duplicate-dispatch count. */
  readonly dispatches?: readonly DispatchSeen[];
  /** Executions the tasks recorded themselves: two of one run that overlap in time are a violation. */
  readonly executions?: readonly TaskExecution[];
  /** A run that has not ended is legitimately waiting (on a timer, a signal, a task that takes long) when this says so. */
  readonly mayBeWaiting?: (history: RunHistory) => boolean;
}

/** The kinds of broken promise the checker finds. */
export type ViolationKind =
  | 'lost-run'
  | 'order'
  | 'overlapping-attempts'
  | 'duplicate-advancement'
  | 'finally'
  | 'compensation'
  | 'unfinished';

/** One broken promise, in one run. */
export interface HistoryViolation {
  readonly kind: ViolationKind;
  readonly runId: string;
  /** Precise: names the task, attempt and entry positions involved. */
  readonly message: string;
}

/** What {@link checkHistory} found over all the histories. */
export interface HistoryReport {
  readonly runs: number;
  /** Runs whose history ends with a final entry. */
  readonly finished: number;
  /** Runs not ended that `mayBeWaiting` accepted. */
  readonly waiting: number;
  readonly violations: readonly HistoryViolation[];
  /** Violations per kind, every kind present (0 when none). */
  readonly counts: Readonly<Record<ViolationKind, number>>;
  /** Dispatches beyond the first of each (run, task, attempt, phase): redeliveries a worker saw. */
  readonly duplicateDispatches: number;
  /** Runs whose sequence `sequenceOf` did not know: checked only for what needs no definition. */
  readonly withoutSequence?: readonly string[];
}

const KINDS: readonly ViolationKind[] = [
  'lost-run',
  'order',
  'overlapping-attempts',
  'duplicate-advancement',
  'finally',
  'compensation',
  'unfinished',
];

/** Two executions of one run that overlap in time: each was still running when the next one began. */
function overlappingExecutions(executions: readonly TaskExecution[]): HistoryViolation[] {
  const byRun = new Map<string, TaskExecution[]>();
  for (const x of executions) byRun.set(x.runId, [...(byRun.get(x.runId) ?? []), x]);
  const out: HistoryViolation[] = [];
  for (const [runId, xs] of byRun) {
    const sorted = [...xs].sort((a, b) => a.startedAt - b.startedAt);
    // The execution that ends last of those begun so far; one killed (no end) tells nothing of when it stopped.
    let longest: TaskExecution | undefined;
    for (const x of sorted) {
      if (longest?.endedAt !== undefined && x.startedAt < longest.endedAt) {
        out.push({
          kind: 'overlapping-attempts',
          runId,
          message:
            `execution of ${x.taskId}#${x.attempt} began at ${x.startedAt} while ${longest.taskId}#${longest.attempt} ` +
            `(${longest.startedAt} to ${longest.endedAt}) was still running`,
        });
      }
      if (x.endedAt !== undefined && (longest?.endedAt === undefined || x.endedAt > longest.endedAt)) longest = x;
    }
  }
  return out;
}

function countDuplicateDispatches(dispatches: readonly DispatchSeen[]): number {
  const seen = new Set<string>();
  let duplicates = 0;
  for (const d of dispatches) {
    const key = JSON.stringify([d.runId, d.taskId, d.attempt, d.phase]);
    if (seen.has(key)) duplicates++;
    else seen.add(key);
  }
  return duplicates;
}

/**
 * Checks every history against the invariants. Pure; never throws on bad histories (it reports them).
 *
 * Positions in messages are indexes into the run's `entries` (0 is `run.started`). A run whose sequence
 * `sequenceOf` does not know is checked for what needs no definition (overlaps, duplicates, attempt numbers, its
 * end) and listed in {@link HistoryReport.withoutSequence}.
 */
export function checkHistory(histories: readonly RunHistory[], options: HistoryCheckOptions): HistoryReport {
  const violations: HistoryViolation[] = [];
  const withoutSequence: string[] = [];
  const seen = new Set<string>();
  let finished = 0;
  let waiting = 0;
  for (const history of histories) {
    const { runId, entries } = history;
    seen.add(runId);
    const first = entries.find((e) => e.type === 'run.started');
    if (first?.type !== 'run.started') {
      const what = entries.length === 0 ? 'an empty history' : `${entries.length} entries (first: ${entries[0]!.type})`;
      violations.push({ kind: 'lost-run', runId, message: `run ${runId} has ${what} but no run.started` });
      continue;
    }
    const sequence = options.sequenceOf(first.sequence, first.version);
    if (!sequence) withoutSequence.push(runId);
    let walked: RunWalkResult;
    try {
      walked = new RunWalk(sequence).walk(entries);
    } catch (error) {
      // An entry without the fields its type promises: report it rather than give up on the other runs.
      violations.push({ kind: 'order', runId, message: `run ${runId}: its history could not be read: ${(error as Error).message}` });
      continue;
    }
    for (const f of walked.findings) violations.push({ kind: f.kind, runId, message: f.message });
    if (walked.finalAt !== undefined) finished++;
    else if (options.mayBeWaiting?.(history)) waiting++;
    else {
      const last = entries[entries.length - 1]!;
      const task = 'task' in last ? ` (${last.task}#${last.attempt})` : '';
      violations.push({
        kind: 'unfinished',
        runId,
        message: `run ${runId} of ${first.sequence} v${first.version} never ended: its last entry, ${entries.length - 1}, is ${last.type}${task}`,
      });
    }
  }
  for (const runId of options.expectedRunIds ?? []) {
    if (!seen.has(runId)) violations.push({ kind: 'lost-run', runId, message: `run ${runId} was started but has no history` });
  }
  violations.push(...overlappingExecutions(options.executions ?? []));
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  for (const v of violations) counts[v.kind]++;
  return {
    runs: histories.length,
    finished,
    waiting,
    violations,
    counts,
    duplicateDispatches: countDuplicateDispatches(options.dispatches ?? []),
    withoutSequence,
  };
}
