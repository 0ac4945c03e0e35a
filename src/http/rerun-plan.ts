import { ErrorCode, LockstepError } from '../core/errors.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';
import type { Reuse } from '../runtime/run-state.js';

/** What `rerun from <task>` will do, shown before acting. */
export interface RerunPlan {
  readonly runId: string;
  readonly from: string;
  /** Main tasks before `from`, whose outcome in the earlier run is reused: they do not run again. */
  readonly reused: ReadonlyArray<{ readonly taskId: string; readonly outcome: 'succeeded' | 'continued' }>;
  /** Main tasks that run again, in order. */
  readonly rerun: readonly string[];
  /**
   * Compensations that fire, in this order, if a later task fails or the run is cancelled or times out:
   * those of every task (reused or rerun) that can be followed by another.
   */
  readonly compensations: ReadonlyArray<{ readonly id: string; readonly of: string; readonly reused: boolean }>;
  /** `finally` tasks: they run once whatever the outcome. */
  readonly finally: readonly string[];
}

/**
 * The outcome of each main task in a run's history: its last main-phase result. Tasks a rerun reused have
 * task.succeeded entries too, so a rerun of a rerun reuses them again.
 */
function mainOutcomes(history: readonly RunEntry[]): Map<string, { outcome: 'succeeded' | 'failed'; result?: unknown }> {
  const outcomes = new Map<string, { outcome: 'succeeded' | 'failed'; result?: unknown }>();
  for (const e of history) {
    if (e.type === 'task.succeeded' && e.phase === 'main') outcomes.set(e.task, { outcome: 'succeeded', ...(e.result === undefined ? {} : { result: e.result }) });
    else if (e.type === 'task.failed' && e.phase === 'main' && !e.willRetry) outcomes.set(e.task, { outcome: 'failed' });
  }
  return outcomes;
}

/** The first main task a rerun should start from by default: the first one that neither succeeded nor failed under `continue`. */
export function defaultRerunFrom(sequence: Sequence, history: readonly RunEntry[]): string {
  const outcomes = mainOutcomes(history);
  for (const spec of sequence.tasks) {
    const o = outcomes.get(spec.id);
    if (!o || (o.outcome === 'failed' && spec.onFailure !== 'continue')) return spec.id;
  }
  return sequence.tasks[0]!.id;
}

/**
 * Plans a rerun of `runId` from main task `from`: the tasks before it are reused (their results stand in),
 * the rest run again.
 *
 * @throws LockstepError `UNKNOWN_TASK` when `from` is not a main task of the sequence, `INVALID_USAGE` when a
 * task before it did not succeed (or fail under `continue`) in the earlier run.
 */
export function planRerun(sequence: Sequence, runId: string, history: readonly RunEntry[], from: string): { plan: RerunPlan; reuse: Reuse } {
  const index = sequence.tasks.findIndex((t) => t.id === from);
  if (index < 0) {
    const known = sequence.tasks.map((t) => `"${t.id}"`).join(', ');
    throw new LockstepError(ErrorCode.unknownTask, `cannot rerun from "${from}": sequence ${sequence.name} has no main task "${from}" (its main tasks: ${known})`);
  }
  const outcomes = mainOutcomes(history);
  const reused: Array<{ taskId: string; outcome: 'succeeded' | 'continued' }> = [];
  const reuse: { succeeded: Array<{ taskId: string; result?: unknown }>; continued: string[] } = { succeeded: [], continued: [] };
  for (const spec of sequence.tasks.slice(0, index)) {
    const o = outcomes.get(spec.id);
    if (o?.outcome === 'succeeded') {
      reused.push({ taskId: spec.id, outcome: 'succeeded' });
      reuse.succeeded.push({ taskId: spec.id, ...(o.result === undefined ? {} : { result: o.result }) });
    } else if (o?.outcome === 'failed' && spec.onFailure === 'continue') {
      reused.push({ taskId: spec.id, outcome: 'continued' });
      reuse.continued.push(spec.id);
    } else {
      throw new LockstepError(
        ErrorCode.invalidUsage,
        `cannot rerun run ${runId} from "${from}": task "${spec.id}" before it ${o ? 'failed' : 'did not run'} in that run, so it has no result to reuse (rerun from "${spec.id}" or earlier)`,
      );
    }
  }
  const last = sequence.tasks.length - 1;
  const compensations = sequence.tasks
    .map((spec, i) => ({ spec, i }))
    .filter(({ spec, i }) => spec.compensate && i < last && !reuse.continued.includes(spec.id))
    .reverse()
    .map(({ spec, i }) => ({ id: spec.compensate!.id, of: spec.id, reused: i < index }));
  const plan: RerunPlan = {
    runId, from, reused, rerun: sequence.tasks.slice(index).map((t) => t.id), compensations, finally: sequence.finally.map((t) => t.id),
  };
  return { plan, reuse };
}
