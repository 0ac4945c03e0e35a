import type { RunEntry } from '../core/protocol/run-entry.js';
import type { RunFacts } from '../core/run/run-facts.js';
import type { RunStateView } from '../core/run/state-view.js';
import { StateKind, stateView } from '../core/run/state-view.js';
import type { Program } from '../core/step.js';
import type { RunPosition } from '../ports/run-service.js';
import type { RunRecord, RunStatusView } from '../ports/run-store.js';
import { waitingView } from '../ports/run-store.js';
import type { WaitingView } from './waiting.js';
import { waitingOf } from './waiting.js';

/** A history entry as the API shows it: without the machine event it carries for replay. */
export type PublicEntry = Omit<RunEntry, 'event'> & { readonly type: RunEntry['type'] };

/** Drops the internal machine event from an entry. */
export function publicEntry(entry: RunEntry): PublicEntry {
  if (!('event' in entry)) return entry;
  const { event: _event, ...rest } = entry;
  return rest as PublicEntry;
}

/**
 * How a task of a run fared so far. `compensated`: a main task that succeeded and whose compensation then
 * succeeded. `continued`: a main task that failed under `onFailure: continue`. `skipped`: the run ended without it.
 */
export type TaskStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'continued' | 'failed' | 'compensated' | 'skipped';

/** How a compensation or a finally task fared so far. */
export type StepStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

/** A compensation or a finally task of a run. */
export interface StepView {
  readonly id: string;
  readonly status: StepStatus;
  /** Its attempts dispatched so far. */
  readonly attempts: number;
}

/** A main task of a run. */
export interface TaskView {
  readonly id: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  /** Its compensation, when it has one. */
  readonly compensation?: StepView;
  /** Reused from the run this one reruns. */
  readonly reused: boolean;
}

/** `running` or `retrying` when the run is at `taskId` in `phase` (in the backoff state for `retrying`). */
function inFlight(state: RunStateView, taskId: string, phase: RunStateView['phase']): 'running' | 'retrying' | undefined {
  if (state.phase !== phase || state.task !== taskId || FINAL_KINDS.has(state.kind)) return undefined;
  return state.kind === StateKind.retrying || state.node.endsWith('.backoff') ? 'retrying' : 'running';
}

const FINAL_KINDS = new Set<string>([StateKind.succeeded, StateKind.failed, StateKind.cancelled]);

/** A compensation's status: its own outcome, else whether the run is at it, else pending or (run ended) skipped. */
function compensationView(id: string, facts: RunFacts, state: RunStateView, ended: boolean): StepView {
  let status: StepStatus = inFlight(state, id, 'compensate') ?? (ended ? 'skipped' : 'pending');
  if (facts.compensated.includes(id)) status = 'succeeded';
  else if (facts.compensationFailed.includes(id)) status = 'failed';
  return { id, status, attempts: facts.attempts[id] ?? 0 };
}

/** The main tasks of a run with their status (and their compensation's), in sequence order. */
export function taskViews(program: Program, facts: RunFacts, state: RunStateView, reused: readonly string[], ended: boolean): TaskView[] {
  return program.sequence.tasks.map((spec) => {
    const attempts = facts.attempts[spec.id] ?? 0;
    const compensation = spec.compensate && compensationView(spec.compensate.id, facts, state, ended);
    let status: TaskStatus = ended ? 'skipped' : 'pending';
    if (compensation?.status === 'succeeded') status = 'compensated';
    else if (facts.completed.includes(spec.id)) status = 'succeeded';
    else if (facts.continued.includes(spec.id)) status = 'continued';
    else if (facts.error?.taskId === spec.id) status = 'failed';
    else status = inFlight(state, spec.id, 'main') ?? status;
    return { id: spec.id, status, attempts, reused: reused.includes(spec.id), ...(compensation ? { compensation } : {}) };
  });
}

/**
 * The finally tasks of a run with their status, in order. They run one after the other whatever happens, so one
 * that was dispatched, has not failed and is not the one the run is at has succeeded.
 */
export function finallyViews(program: Program, facts: RunFacts, state: RunStateView, ended: boolean): StepView[] {
  return program.sequence.finally.map((spec) => {
    const attempts = facts.attempts[spec.id] ?? 0;
    let status: StepStatus = ended ? 'skipped' : 'pending';
    const at = inFlight(state, spec.id, 'finally');
    if (facts.finallyFailed.includes(spec.id)) status = 'failed';
    else if (at) status = at;
    else if (attempts > 0) status = 'succeeded';
    return { id: spec.id, status, attempts };
  });
}

/**
 * A run's record as the API shows it: without its definition text, with the status lockstep shows, and the wait
 * it is in (its history says so; an interrupted run keeps it, to be resumed into).
 */
export type RunSummary = Omit<RunRecord, 'definition' | 'status'> & {
  readonly status: RunStatusView;
  readonly waiting?: WaitingView;
};

/** Everything the API tells about one run. */
export interface RunView {
  readonly run: RunSummary;
  readonly state: RunStateView | null;
  /** The main tasks, with their compensations. */
  readonly tasks: readonly TaskView[];
  /** Ids of the finally tasks. */
  readonly finally: readonly string[];
  /** The finally tasks with their status. */
  readonly finallyTasks: readonly StepView[];
  readonly history: readonly PublicEntry[];
  /** The wait in progress, with its signal schema; `null` when the run waits for nothing. */
  readonly waiting: WaitingView | null;
}

/** The record without its (possibly long) definition text, with its shown status (`interrupted` included). */
export function recordSummary(record: RunRecord, status: RunStatusView, waiting?: WaitingView | null): RunSummary {
  const { definition: _definition, ...rest } = record;
  return { ...rest, status, ...(waiting ? { waiting } : {}) };
}

/**
 * Builds a run's view from where it stands (`position`, as its mode knows it). `program` is `undefined` when the
 * definition cannot be compiled any more: the view then has no tasks.
 */
export function runView(
  record: RunRecord,
  status: RunStatusView,
  history: readonly RunEntry[],
  program: Program | undefined,
  position?: RunPosition,
): RunView {
  const started = history[0];
  const reused = started?.type === 'run.started' ? (started.reused ?? []) : [];
  const state = position ? stateView(position.value, position.facts) : null;
  const ended = record.status !== 'running';
  const tasks = position && state && program ? taskViews(program, position.facts, state, reused, ended) : [];
  const finallyTasks = position && state && program ? finallyViews(program, position.facts, state, ended) : [];
  const fact = ended ? undefined : position?.facts.waiting;
  const waiting = fact ? waitingOf(fact, program) : null;
  return {
    run: recordSummary(record, waitingView(status, fact), waiting),
    state,
    tasks,
    finally: program?.sequence.finally.map((t) => t.id) ?? [],
    finallyTasks,
    history: history.map(publicEntry),
    waiting,
  };
}
