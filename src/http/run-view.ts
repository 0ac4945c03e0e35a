import type { RunContext } from '../core/compile/types.js';
import { activeNodeIds } from '../core/graph/model.js';
import type { StateValue } from '../core/graph/model.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Phase } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import type { RunRecord, RunStatusView } from '../ports/run-store.js';
import { replay } from '../core/run/live-run.js';

/** What a run is doing, as the page colours it. */
export const StateKind = {
  running: 'running',
  /** A main task failed and waits for its retry timer. */
  retrying: 'retrying',
  compensating: 'compensating',
  /** `finally` tasks run. */
  cleaningUp: 'cleaning-up',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type StateKind = (typeof StateKind)[keyof typeof StateKind];

/** Where a run is in its machine, derived from its snapshot. */
export interface RunStateView {
  readonly value: StateValue;
  /** Graph node ids of the active states, ancestors first, e.g. `['main', 'main.build', 'main.build.running']`. */
  readonly activeNodes: readonly string[];
  /** The deepest active node: the one to highlight. */
  readonly node: string;
  readonly kind: StateKind;
  /** The task dispatched or waiting to be retried (`<id>.compensate` while compensating). */
  readonly task?: string;
  /** The graph's task id of `task`: the main task's id for its compensation. */
  readonly taskNode?: string;
  readonly attempt?: number;
  readonly phase?: Phase;
  /** Main tasks that succeeded, in order. */
  readonly completed: readonly string[];
  /** Main tasks that failed under `onFailure: continue`. */
  readonly continued: readonly string[];
  /** The task whose failure stopped the run, if one did. */
  readonly failedTask?: string;
  readonly compensated: readonly string[];
  readonly compensationFailed: readonly string[];
  readonly finallyFailed: readonly string[];
  readonly reason?: string;
  /** An attempt the run stopped (timeout, cancel) and still waits for: nothing starts before it has ended. */
  readonly stopping?: { readonly task: string; readonly attempt: number; readonly phase: Phase };
}

/** A history entry as the API shows it: without the machine event it carries for replay. */
export type PublicEntry = Omit<RunEntry, 'event'> & { readonly type: RunEntry['type'] };

/** Drops the internal machine event from an entry. */
export function publicEntry(entry: RunEntry): PublicEntry {
  if (!('event' in entry)) return entry;
  const { event: _event, ...rest } = entry;
  return rest as PublicEntry;
}

// `draining`: the run is over but for an attempt it stopped, which it waits for before it ends.
const REGION_KIND: Record<string, StateKind> = {
  main: StateKind.running, compensating: StateKind.compensating, finalizing: StateKind.cleaningUp, draining: StateKind.cleaningUp,
};

/** Derives the view of a run's state from its state value and context. */
export function stateView(value: StateValue, context: RunContext): RunStateView {
  const activeNodes = activeNodeIds(value);
  const node = activeNodes.at(-1) ?? String(value);
  const [region, taskNode, inner] = node.split('.');
  let kind: StateKind = StateKind.failed;
  if (region !== undefined && region in REGION_KIND) kind = REGION_KIND[region]!;
  else if (region === 'succeeded' || region === 'cancelled' || region === 'failed') kind = region;
  if (kind === StateKind.running && inner === 'backoff') kind = StateKind.retrying;
  const current = context.current;
  const task = current?.taskId ?? (taskNode !== undefined ? (region === 'compensating' ? `${taskNode}.compensate` : taskNode) : undefined);
  const attempt = current?.attempt ?? (task !== undefined ? context.attempts[task] : undefined);
  const phase: Phase | undefined = current?.phase ?? (region === 'main' ? 'main' : region === 'compensating' ? 'compensate' : region === 'finalizing' ? 'finally' : undefined);
  return {
    value, activeNodes, node, kind,
    ...(task !== undefined ? { task } : {}),
    ...(taskNode !== undefined ? { taskNode } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
    ...(phase !== undefined ? { phase } : {}),
    completed: context.completed,
    continued: context.continued,
    ...(context.error ? { failedTask: context.error.taskId } : {}),
    compensated: context.compensated,
    compensationFailed: context.compensationFailed,
    finallyFailed: context.finallyFailed,
    ...(context.reason ? { reason: context.reason } : {}),
    ...(context.stopping ? { stopping: { task: context.stopping.taskId, attempt: context.stopping.attempt, phase: context.stopping.phase } } : {}),
  };
}

/** How each main task of a run fared so far. */
export type TaskStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'continued' | 'failed' | 'skipped';

export interface TaskView {
  readonly id: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly compensation?: { readonly id: string; readonly status: 'pending' | 'running' | 'succeeded' | 'failed' };
  /** Reused from the run this one reruns. */
  readonly reused: boolean;
}

/** The main tasks of a run with their status, in sequence order. */
export function taskViews(program: Program, context: RunContext, state: RunStateView, reused: readonly string[], ended: boolean): TaskView[] {
  return program.sequence.tasks.map((spec) => {
    const attempts = context.attempts[spec.id] ?? 0;
    let status: TaskStatus = ended ? 'skipped' : 'pending';
    if (context.completed.includes(spec.id)) status = 'succeeded';
    else if (context.continued.includes(spec.id)) status = 'continued';
    else if (context.error?.taskId === spec.id) status = 'failed';
    else if (state.phase === 'main' && state.task === spec.id) status = state.kind === StateKind.retrying ? 'retrying' : 'running';
    const comp = spec.compensate;
    const compensation = comp && {
      id: comp.id,
      status: context.compensated.includes(comp.id) ? 'succeeded' as const
        : context.compensationFailed.includes(comp.id) ? 'failed' as const
          : state.task === comp.id ? 'running' as const : 'pending' as const,
    };
    return { id: spec.id, status, attempts, reused: reused.includes(spec.id), ...(compensation ? { compensation } : {}) };
  });
}

/** A run's record as the API shows it: without its definition text, with the status lockstep shows. */
export type RunSummary = Omit<RunRecord, 'definition' | 'status'> & { readonly status: RunStatusView };

/** Everything the API tells about one run. */
export interface RunView {
  readonly run: RunSummary;
  readonly state: RunStateView | null;
  readonly tasks: readonly TaskView[];
  readonly finally: readonly string[];
  readonly history: readonly PublicEntry[];
}

/** The record without its (possibly long) definition text, with its shown status (`interrupted` included). */
export function recordSummary(record: RunRecord, status: RunStatusView): RunSummary {
  const { definition: _definition, ...rest } = record;
  return { ...rest, status };
}

/**
 * Builds a run's view: from `snapshot` when given, else by replaying its history on its program. `program` is
 * `undefined` when the definition cannot be compiled any more.
 */
export function runView(
  record: RunRecord, status: RunStatusView, history: readonly RunEntry[], program: Program | undefined,
  snapshot?: { readonly value: unknown; readonly context: RunContext },
): RunView {
  const started = history[0];
  const reused = started?.type === 'run.started' ? started.reused ?? [] : [];
  let state: RunStateView | null = null;
  let tasks: TaskView[] = [];
  let machine = snapshot;
  if (!machine && program && started?.type === 'run.started') machine = replay(program, history).snapshot;
  if (machine) {
    state = stateView(machine.value as StateValue, machine.context);
    if (program) tasks = taskViews(program, machine.context, state, reused, record.status !== 'running');
  }
  return { run: recordSummary(record, status), state, tasks, finally: program?.sequence.finally.map((t) => t.id) ?? [], history: history.map(publicEntry) };
}
