import type { RunContext } from '../core/compile/types.js';
import type { StateValue } from '../core/graph/model.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Program } from '../core/step.js';
import type { RunRecord, RunStatusView } from '../ports/run-store.js';
import { StateKind, stateView } from '../core/run/state-view.js';
import type { RunStateView } from '../core/run/state-view.js';
import { replay } from '../core/run/live-run.js';

export { StateKind, stateView } from '../core/run/state-view.js';
export type { RunStateView } from '../core/run/state-view.js';

/** A history entry as the API shows it: without the machine event it carries for replay. */
export type PublicEntry = Omit<RunEntry, 'event'> & { readonly type: RunEntry['type'] };

/** Drops the internal machine event from an entry. */
export function publicEntry(entry: RunEntry): PublicEntry {
  if (!('event' in entry)) return entry;
  const { event: _event, ...rest } = entry;
  return rest as PublicEntry;
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
