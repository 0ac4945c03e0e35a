import type { RunEntry } from '../core/protocol/run-entry.js';
import type { RunFacts } from '../core/run/run-facts.js';
import type { RunStateView } from '../core/run/state-view.js';
import { StateKind, stateView } from '../core/run/state-view.js';
import type { Program } from '../core/step.js';
import type { RunPosition } from '../ports/run-service.js';
import type { RunRecord, RunStatusView } from '../ports/run-store.js';

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
export function taskViews(program: Program, facts: RunFacts, state: RunStateView, reused: readonly string[], ended: boolean): TaskView[] {
  return program.sequence.tasks.map((spec) => {
    const attempts = facts.attempts[spec.id] ?? 0;
    let status: TaskStatus = ended ? 'skipped' : 'pending';
    if (facts.completed.includes(spec.id)) status = 'succeeded';
    else if (facts.continued.includes(spec.id)) status = 'continued';
    else if (facts.error?.taskId === spec.id) status = 'failed';
    else if (state.phase === 'main' && state.task === spec.id) status = state.kind === StateKind.retrying ? 'retrying' : 'running';
    const comp = spec.compensate;
    const compensation = comp && {
      id: comp.id,
      status: facts.compensated.includes(comp.id)
        ? ('succeeded' as const)
        : facts.compensationFailed.includes(comp.id)
          ? ('failed' as const)
          : state.task === comp.id
            ? ('running' as const)
            : ('pending' as const),
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
  const tasks = position && state && program ? taskViews(program, position.facts, state, reused, record.status !== 'running') : [];
  return {
    run: recordSummary(record, status),
    state,
    tasks,
    finally: program?.sequence.finally.map((t) => t.id) ?? [],
    history: history.map(publicEntry),
  };
}
