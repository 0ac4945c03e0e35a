import type { RunEvent } from '../compile/types.js';
import type { RunEntry } from '../protocol/run-entry.js';
import { isFinalEntry } from '../protocol/run-entry.js';
import type { Phase, Sequence } from '../sequence/types.js';
import type { Expectation } from './expectation.js';
import { indexTasks } from './expectation.js';
import type { ModelPath } from './path-graph.js';

/** The properties checked on every path. */
export const Invariant = {
  /** The runtime applied exactly the path's events, in order. */
  followsPath: 'follows-path',
  /** Main tasks start in definition order, each only after its predecessor succeeded (or failed under continue). */
  order: 'order',
  /**
   * At most one attempt of a run runs at any time: none starts while another is in flight, or stopped (timed out,
   * cancelled) but not yet ended, and the run does not end before a stopped attempt has.
   */
  noOverlap: 'no-overlap',
  /** No task starts more attempts than its `maxAttempts`. */
  attempts: 'attempts',
  /** Compensations run in reverse order, for exactly the completed tasks, and only when the run unwinds. */
  compensation: 'compensation',
  /** Every finally task runs exactly once, in order, after the main phase and compensations. */
  finally: 'finally',
  /** The run ends once, in the outcome the policy prescribes. */
  outcome: 'outcome',
  /** A duplicate or late event changes nothing and is counted as ignored. */
  ignored: 'ignored',
} as const;
export type Invariant = (typeof Invariant)[keyof typeof Invariant];

/** One broken invariant on one path. */
export interface Violation {
  readonly invariant: Invariant;
  readonly message: string;
}

/** What a task executor saw, in order: an attempt starting, and ending (returned, threw or was aborted). */
export interface ExecutionEvent {
  readonly kind: 'start' | 'end';
  readonly taskId: string;
  readonly attempt: number;
  readonly phase: Phase;
}

type Started = Extract<RunEntry, { type: 'task.started' }>;
type Failed = Extract<RunEntry, { type: 'task.failed' }>;

/** A run event in a few words, for messages. */
export function describeEvent(event: RunEvent): string {
  switch (event.type) {
    case 'TASK_SUCCEEDED':
      return `${event.taskId}#${event.attempt} ok`;
    case 'TASK_FAILED':
      return `${event.taskId}#${event.attempt} fail`;
    case 'TASK_INTERRUPTED':
      return `${event.taskId}#${event.attempt} interrupted`;
    case 'TIMER_FIRED':
      return `timer ${event.timerId}`;
    case 'CANCEL':
      return 'cancel';
  }
}

const sameEvent = (a: RunEvent, b: RunEvent): boolean => {
  if (a.type !== b.type) return false;
  if (a.type === 'TIMER_FIRED') return a.timerId === (b as typeof a).timerId;
  if (a.type === 'CANCEL') return true;
  const o = b as typeof a;
  return a.taskId === o.taskId && a.attempt === o.attempt;
};

const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));

function followsPath(path: ModelPath, entries: readonly RunEntry[]): Violation[] {
  const applied = entries.flatMap((e) => ('event' in e && e.type !== 'event.ignored' ? [e.event] : []));
  for (const [i, step] of path.steps.entries()) {
    const got = applied[i];
    if (!got)
      return [
        {
          invariant: Invariant.followsPath,
          message: `step ${i + 1} (${step.label}) was never applied; the runtime applied ${i} of ${path.steps.length} steps`,
        },
      ];
    if (!sameEvent(step.event, got)) {
      return [
        {
          invariant: Invariant.followsPath,
          message: `step ${i + 1}: expected ${describeEvent(step.event)} (${step.label}), the runtime applied ${describeEvent(got)}`,
        },
      ];
    }
  }
  const extra = applied.slice(path.steps.length);
  return extra.length === 0
    ? []
    : [{ invariant: Invariant.followsPath, message: `the runtime applied events beyond the path: ${extra.map(describeEvent).join(', ')}` }];
}

function noOverlap(entries: readonly RunEntry[], executions: readonly ExecutionEvent[]): Violation[] {
  const out: Violation[] = [];
  let inFlight: Started | undefined;
  // Attempts stopped by a timeout, a cancel or the run timeout, until their task.stopped entry.
  const stopping = new Map<string, Started>();
  const name = (e: { task: string; attempt: number }) => `${e.task}#${e.attempt}`;
  for (const e of entries) {
    if (e.type === 'task.started') {
      if (inFlight) out.push({ invariant: Invariant.noOverlap, message: `${name(e)} started while ${name(inFlight)} was still in flight` });
      for (const s of stopping.values()) {
        out.push({
          invariant: Invariant.noOverlap,
          message: `${name(e)} started while ${name(s)}, which had been stopped, had not ended yet`,
        });
      }
      inFlight = e;
    } else if (
      (e.type === 'task.succeeded' || e.type === 'task.failed') &&
      inFlight &&
      e.task === inFlight.task &&
      e.attempt === inFlight.attempt
    ) {
      // A task timeout stops the attempt: it still runs until it ends.
      if (e.type === 'task.failed' && e.event.type === 'TIMER_FIRED') stopping.set(name(e), inFlight);
      inFlight = undefined;
    } else if (e.type === 'run.cancelling' || e.type === 'run.timed-out') {
      if (inFlight) stopping.set(name(inFlight), inFlight);
      inFlight = undefined;
    } else if (e.type === 'task.stopped') {
      if (!stopping.delete(name(e)))
        out.push({ invariant: Invariant.noOverlap, message: `${name(e)} was recorded as stopped, but it had not been stopped` });
    } else if (isFinalEntry(e)) {
      for (const s of stopping.values())
        out.push({ invariant: Invariant.noOverlap, message: `the run ended while ${name(s)}, which had been stopped, had not ended yet` });
    }
  }
  const running = new Map<string, ExecutionEvent>();
  for (const x of executions) {
    const key = `${x.taskId}#${x.attempt}`;
    if (x.kind === 'end') {
      running.delete(key);
      continue;
    }
    const other = [...running.values()][0];
    if (other)
      out.push({
        invariant: Invariant.noOverlap,
        message: `the executor started ${key} while ${other.taskId}#${other.attempt} was still executing`,
      });
    running.set(key, x);
  }
  return out;
}

function order(sequence: Sequence, entries: readonly RunEntry[]): Violation[] {
  const tasks = indexTasks(sequence);
  const out: Violation[] = [];
  const succeeded = new Set<string>();
  const exhausted = new Set<string>();
  const retrying = new Set<string>();
  let furthest = -1;
  let phase: Phase = 'main';
  let stopped = false;
  const rank = { main: 0, compensate: 1, finally: 2 } as const;
  for (const e of entries) {
    if (e.type === 'task.succeeded' && e.phase === 'main') succeeded.add(e.task);
    else if (e.type === 'task.failed') {
      if (e.willRetry) retrying.add(`${e.task}#${e.attempt + 1}`);
      else exhausted.add(e.task);
    } else if (e.type === 'run.cancelling' || e.type === 'run.timed-out') stopped = true;
    if (e.type !== 'task.started') continue;
    const name = `${e.task}#${e.attempt}`;
    if (rank[e.phase] < rank[phase])
      out.push({ invariant: Invariant.order, message: `${name} (${e.phase}) started after the ${phase} phase had begun` });
    if (rank[e.phase] > rank[phase]) phase = e.phase;
    if (e.attempt > 1 && !retrying.has(name))
      out.push({
        invariant: Invariant.order,
        message: `${name} started, but attempt ${e.attempt - 1} did not fail with a retry scheduled`,
      });
    if (e.phase !== 'main') continue;
    const at = tasks.main.get(e.task);
    if (!at) continue;
    if (stopped) out.push({ invariant: Invariant.order, message: `${name} started after the run was cancelled or timed out` });
    if (at.index < furthest) out.push({ invariant: Invariant.order, message: `${name} started after a later task had started` });
    furthest = Math.max(furthest, at.index);
    if (e.attempt > 1 || at.index === 0) continue;
    const prev = sequence.tasks[at.index - 1]!;
    const done = succeeded.has(prev.id) || (prev.onFailure === 'continue' && exhausted.has(prev.id));
    if (!done) {
      const how = prev.onFailure === 'continue' ? 'succeeded or failed all its attempts (onFailure: continue)' : 'succeeded';
      out.push({ invariant: Invariant.order, message: `${e.task} started before its predecessor ${prev.id} ${how}` });
    }
  }
  return out;
}

function attempts(sequence: Sequence, entries: readonly RunEntry[], executions: readonly ExecutionEvent[]): Violation[] {
  const tasks = indexTasks(sequence);
  const out: Violation[] = [];
  const seen = new Map<string, number>();
  for (const e of entries) {
    if (e.type === 'task.failed' && e.willRetry) {
      const max = tasks.spec(e.task)?.retry.maxAttempts ?? 1;
      if (e.attempt >= max)
        out.push({
          invariant: Invariant.attempts,
          message: `${e.task}#${e.attempt} failed and a retry was scheduled, beyond maxAttempts ${max}`,
        });
    }
    if (e.type !== 'task.started') continue;
    const max = tasks.spec(e.task)?.retry.maxAttempts ?? 1;
    if (e.attempt > max)
      out.push({ invariant: Invariant.attempts, message: `${e.task} started attempt ${e.attempt}, beyond maxAttempts ${max}` });
    seen.set(e.task, Math.max(seen.get(e.task) ?? 0, e.attempt));
  }
  const executed = new Map<string, number>();
  for (const x of executions) if (x.kind === 'start') executed.set(x.taskId, (executed.get(x.taskId) ?? 0) + 1);
  for (const [task, n] of executed) {
    const max = tasks.spec(task)?.retry.maxAttempts ?? 1;
    if (n > max && (seen.get(task) ?? 0) <= max)
      out.push({ invariant: Invariant.attempts, message: `${task} was executed ${n} times, beyond maxAttempts ${max}` });
  }
  return out;
}

function compensation(sequence: Sequence, expectation: Expectation, entries: readonly RunEntry[], abandoned: boolean): Violation[] {
  const completed = entries.flatMap((e) => (e.type === 'task.succeeded' && e.phase === 'main' ? [e.task] : []));
  const main = indexTasks(sequence).main;
  const expected = expectation.unwinds ? [...completed].reverse().flatMap((id) => main.get(id)?.spec.compensate?.id ?? []) : [];
  const ran = entries.flatMap((e) => (e.type === 'task.started' && e.phase === 'compensate' && e.attempt === 1 ? [e.task] : []));
  const matches = abandoned ? ran.every((id, i) => expected[i] === id) : ran.join('\n') === expected.join('\n');
  if (matches) return [];
  const why = expectation.unwinds
    ? `expected ${list(expected)} (the completed tasks ${list(completed)}, in reverse order)`
    : `expected none (${expectation.because})`;
  return [{ invariant: Invariant.compensation, message: `compensations ran: ${list(ran)}; ${why}` }];
}

function finallyOnce(
  sequence: Sequence,
  entries: readonly RunEntry[],
  executions: readonly ExecutionEvent[],
  abandoned: boolean,
): Violation[] {
  const out: Violation[] = [];
  const firsts = entries.flatMap((e) => (e.type === 'task.started' && e.phase === 'finally' && e.attempt === 1 ? [e.task] : []));
  const expected = sequence.finally.map((t) => t.id);
  for (const id of expected) {
    const n = firsts.filter((f) => f === id).length;
    const executed = executions.filter((x) => x.kind === 'start' && x.taskId === id && x.attempt === 1).length;
    if (n === 0 && abandoned) continue;
    if (n !== 1)
      out.push({ invariant: Invariant.finally, message: n === 0 ? `finally task ${id} never ran` : `finally task ${id} ran ${n} times` });
    else if (executed !== 1) out.push({ invariant: Invariant.finally, message: `finally task ${id} was executed ${executed} times` });
    const ends = entries.filter(
      (e) =>
        (e.type === 'task.succeeded' || (e.type === 'task.failed' && !(e as Failed).willRetry)) && e.phase === 'finally' && e.task === id,
    ).length;
    if (n === 1 && ends !== 1) out.push({ invariant: Invariant.finally, message: `finally task ${id} ended ${ends} times` });
  }
  const inOrder = abandoned ? firsts.every((id, i) => expected[i] === id) : firsts.join('\n') === expected.join('\n');
  if (out.length === 0 && !inOrder) {
    out.push({ invariant: Invariant.finally, message: `finally tasks ran in the order ${list(firsts)}; expected ${list(expected)}` });
  }
  return out;
}

function outcome(expectation: Expectation, entries: readonly RunEntry[]): Violation[] {
  const finals = entries.filter(isFinalEntry);
  if (finals.length === 0) {
    const last = entries[entries.length - 1];
    return [
      {
        invariant: Invariant.outcome,
        message: `the run never ended (expected ${expectation.outcome}: ${expectation.because}); last entry: ${last ? last.type : 'none'}`,
      },
    ];
  }
  if (finals.length > 1)
    return [{ invariant: Invariant.outcome, message: `the run ended ${finals.length} times: ${finals.map((f) => f.outcome).join(', ')}` }];
  const got = finals[0]!.outcome;
  return got === expectation.outcome
    ? []
    : [{ invariant: Invariant.outcome, message: `the run ended ${got}; the policy says ${expectation.outcome} (${expectation.because})` }];
}

/** What was observed of one run of a path. */
export interface Observed {
  /** The run's history. */
  readonly entries: readonly RunEntry[];
  /** What the task executor saw. */
  readonly executions: readonly ExecutionEvent[];
  /**
   * True when the runtime left the path and the run was given up before its end: only what happened so far is
   * judged (no missing finally tasks, no missing outcome; compensations and finally tasks so far must be a prefix).
   */
  readonly abandoned?: boolean;
}

/** Checks one run of a path against every invariant but `ignored` (the runner checks that as it injects). Pure. */
export function checkRun(sequence: Sequence, path: ModelPath, expectation: Expectation, observed: Observed): Violation[] {
  const { entries, executions } = observed;
  const abandoned = observed.abandoned ?? false;
  return [
    ...followsPath(path, entries),
    ...order(sequence, entries),
    ...noOverlap(entries, executions),
    ...attempts(sequence, entries, executions),
    ...compensation(sequence, expectation, entries, abandoned),
    ...finallyOnce(sequence, entries, executions, abandoned),
    ...(abandoned ? [] : outcome(expectation, entries)),
  ];
}
