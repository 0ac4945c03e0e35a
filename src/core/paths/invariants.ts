import type { RunEvent } from '../compile/types.js';
import type { RunEntry } from '../protocol/run-entry.js';
import { isFinalEntry } from '../protocol/run-entry.js';
import type { Phase, Sequence, TaskSpec, WaitSpec } from '../sequence/types.js';
import { untilDueAt } from '../sequence/wait.js';
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
  /**
   * A wait task runs nothing and holds the run: each attempt records what it waits for and until when, nothing is
   * executed for it, and nothing after it starts before it resolves (a signal, a rejection, its timeout or due time,
   * a cancel or the run timeout).
   */
  waits: 'waits',
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

/** Whether a task's last failure lets the run go on: onFailure: continue, or a signal wait's timeout under onTimeout: continue. */
export function goesOn(spec: TaskSpec | undefined, timedOut: boolean): boolean {
  if (!spec) return false;
  const wait = spec.action.kind === 'wait' ? spec.action.wait : undefined;
  return spec.onFailure === 'continue' || (timedOut && wait?.for === 'signal' && wait.onTimeout === 'continue');
}

/** When a wait attempt that began at `at` ends by itself (ms), as its `task.waiting` must say; `undefined`: never. */
function waitUntil(spec: TaskSpec, wait: WaitSpec, at: number, input: unknown): number | undefined {
  if (wait.for === 'signal') return spec.timeoutMs === undefined ? undefined : at + spec.timeoutMs;
  return wait.for === 'delay' ? at + wait.delayMs : untilDueAt(wait, input);
}

function waits(sequence: Sequence, entries: readonly RunEntry[], executions: readonly ExecutionEvent[]): Violation[] {
  const tasks = indexTasks(sequence);
  const out: Violation[] = [];
  const input = entries.find((e) => e.type === 'run.started')?.input;
  const name = (e: { task: string; attempt: number }) => `${e.task}#${e.attempt}`;
  // The wait attempt in progress, from its task.started until it resolves.
  let holding: { readonly started: Started; readonly wait: WaitSpec; waiting: boolean } | undefined;
  const what = (w: WaitSpec) => (w.for === 'signal' ? 'a signal' : 'its time');
  for (const [i, e] of entries.entries()) {
    if (holding && !holding.waiting && e.type !== 'task.waiting') {
      out.push({
        invariant: Invariant.waits,
        message: `${name(holding.started)} began without recording what it waits for (task.waiting)`,
      });
      holding.waiting = true;
    }
    if (e.type === 'task.started') {
      if (holding)
        out.push({
          invariant: Invariant.waits,
          message: `${name(e)} started while ${name(holding.started)} was still waiting for ${what(holding.wait)}`,
        });
      const spec = tasks.spec(e.task);
      const wait = spec?.action.kind === 'wait' ? spec.action.wait : undefined;
      holding = wait ? { started: e, wait, waiting: false } : undefined;
      continue;
    }
    if (e.type === 'task.waiting') {
      if (!holding || holding.started.task !== e.task || holding.started.attempt !== e.attempt) {
        out.push({ invariant: Invariant.waits, message: `entry ${i}: ${name(e)} recorded task.waiting, but it is not a wait in progress` });
        continue;
      }
      holding.waiting = true;
      const spec = tasks.spec(e.task)!;
      const expected = waitUntil(spec, holding.wait, holding.started.at, input);
      const wants = holding.wait.for === 'signal' ? 'signal' : 'time';
      if (e.for !== wants || e.until !== expected) {
        const show = (f: string, u: number | undefined) => `${f} until ${u === undefined ? 'never' : new Date(u).toISOString()}`;
        out.push({
          invariant: Invariant.waits,
          message: `${name(e)} recorded that it waits for ${show(e.for, e.until)}; its definition says ${show(wants, expected)}`,
        });
      }
      continue;
    }
    const resolves =
      ((e.type === 'task.succeeded' || e.type === 'task.failed') &&
        holding &&
        e.task === holding.started.task &&
        e.attempt === holding.started.attempt) ||
      e.type === 'run.cancelling' ||
      e.type === 'run.timed-out' ||
      isFinalEntry(e);
    if (resolves) holding = undefined;
  }
  for (const x of executions) {
    const spec = x.kind === 'start' ? tasks.spec(x.taskId) : undefined;
    if (spec?.action.kind === 'wait')
      out.push({
        invariant: Invariant.waits,
        message: `the executor was asked to run ${x.taskId}#${x.attempt}, a wait: nothing runs a wait`,
      });
  }
  return out;
}

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
  // The attempt in flight is a wait (its task.waiting came): ending it stops nothing.
  let waits = false;
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
      waits = false;
    } else if (e.type === 'task.waiting' && inFlight && e.task === inFlight.task && e.attempt === inFlight.attempt) {
      waits = true;
    } else if (
      (e.type === 'task.succeeded' || e.type === 'task.failed') &&
      inFlight &&
      e.task === inFlight.task &&
      e.attempt === inFlight.attempt
    ) {
      // A task timeout stops the attempt: it still runs until it ends.
      if (e.type === 'task.failed' && e.event.type === 'TIMER_FIRED' && !waits) stopping.set(name(e), inFlight);
      inFlight = undefined;
    } else if (e.type === 'run.cancelling' || e.type === 'run.timed-out') {
      if (inFlight && !waits) stopping.set(name(inFlight), inFlight);
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
  // Main tasks that failed for good and let the run go on: onFailure: continue, or a signal wait's onTimeout: continue.
  const continued = new Set<string>();
  const retrying = new Set<string>();
  let furthest = -1;
  let phase: Phase = 'main';
  let stopped = false;
  const rank = { main: 0, compensate: 1, finally: 2 } as const;
  for (const e of entries) {
    if (e.type === 'task.succeeded' && e.phase === 'main') succeeded.add(e.task);
    else if (e.type === 'task.failed') {
      if (e.willRetry) retrying.add(`${e.task}#${e.attempt + 1}`);
      else if (goesOn(tasks.spec(e.task), e.event.type === 'TIMER_FIRED')) continued.add(e.task);
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
    const done = succeeded.has(prev.id) || continued.has(prev.id);
    if (!done) {
      const how =
        prev.onFailure === 'continue'
          ? 'succeeded or failed all its attempts (onFailure: continue)'
          : goesOn(prev, true)
            ? 'succeeded or timed out (onTimeout: continue)'
            : 'succeeded';
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
  // A wait runs nothing: it is never executed.
  const waitTasks = new Set(sequence.finally.flatMap((t) => (t.action.kind === 'wait' ? [t.id] : [])));
  for (const id of expected) {
    const n = firsts.filter((f) => f === id).length;
    const executed = executions.filter((x) => x.kind === 'start' && x.taskId === id && x.attempt === 1).length;
    if (n === 0 && abandoned) continue;
    if (n !== 1)
      out.push({ invariant: Invariant.finally, message: n === 0 ? `finally task ${id} never ran` : `finally task ${id} ran ${n} times` });
    else if (executed !== (waitTasks.has(id) ? 0 : 1))
      out.push({ invariant: Invariant.finally, message: `finally task ${id} was executed ${executed} times` });
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
    ...waits(sequence, entries, executions),
    ...(abandoned ? [] : outcome(expectation, entries)),
  ];
}
