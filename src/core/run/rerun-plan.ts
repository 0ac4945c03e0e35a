import { ErrorCode, LockstepError } from '../errors.js';
import type { RunEntry } from '../protocol/run-entry.js';
import type { Sequence } from '../sequence/types.js';
import type { Reuse } from './live-run.js';

/** What a rerun does with one main task, and why. */
export interface RerunStep {
  readonly taskId: string;
  readonly action: 'reused' | 'runs';
  /** Why, in words: `its compensation ran in run X`, `succeeded in run X`, `the rerun starts here`, … */
  readonly reason: string;
}

/** What `rerun from <task>` will do, shown before acting (`lockstep rerun --dry-run`, the page's preview). */
export interface RerunPlan {
  readonly runId: string;
  /** The main task the rerun starts at: the one asked for, or an earlier one whose compensation ran. */
  readonly from: string;
  /** The task asked for, when the rerun has to start earlier (see `from`). */
  readonly requested?: string;
  /** Main tasks before `from`, whose outcome in the earlier run is reused: they do not run again. */
  readonly reused: ReadonlyArray<{ readonly taskId: string; readonly outcome: 'succeeded' | 'continued' }>;
  /** Main tasks that run again, in order. */
  readonly rerun: readonly string[];
  /** Every main task, in order, with what the rerun does with it and why. */
  readonly steps: readonly RerunStep[];
  /**
   * Compensations that fire, in this order, if a later task fails or the run is cancelled or times out:
   * those of every task (reused or rerun) that can be followed by another.
   */
  readonly compensations: ReadonlyArray<{ readonly id: string; readonly of: string; readonly reused: boolean }>;
  /** `finally` tasks: they run once whatever the outcome. */
  readonly finally: readonly string[];
}

interface MainOutcome {
  readonly outcome: 'succeeded' | 'failed';
  readonly result?: unknown;
}

/**
 * The outcome of each main task in a run's history: its last main-phase result. Tasks a rerun reused have
 * task.succeeded entries too, so a rerun of a rerun reuses them again.
 */
function mainOutcomes(history: readonly RunEntry[]): Map<string, MainOutcome> {
  const outcomes = new Map<string, MainOutcome>();
  for (const e of history) {
    if (e.type === 'task.succeeded' && e.phase === 'main')
      outcomes.set(e.task, { outcome: 'succeeded', ...(e.result === undefined ? {} : { result: e.result }) });
    else if (e.type === 'task.failed' && e.phase === 'main' && !e.willRetry) outcomes.set(e.task, { outcome: 'failed' });
  }
  return outcomes;
}

/**
 * Main tasks whose compensation started in a run: whatever its outcome, it may have undone the task's work. Read
 * from the history alone (`<id>.compensate`), so a definition that no longer declares the compensation still
 * counts it.
 */
function compensationsStarted(history: readonly RunEntry[]): Set<string> {
  const suffix = '.compensate';
  return new Set(
    history.flatMap((e) =>
      e.type === 'task.started' && e.phase === 'compensate' && e.task.endsWith(suffix) ? [e.task.slice(0, -suffix.length)] : [],
    ),
  );
}

/**
 * The index of the first main task a rerun must run again, whatever `--from` says: the first one whose
 * compensation ran in the earlier run (its result may describe work that was undone), or none.
 */
function firstCompensated(sequence: Sequence, history: readonly RunEntry[]): number {
  const started = compensationsStarted(history);
  return sequence.tasks.findIndex((t) => started.has(t.id));
}

/**
 * The first main task a rerun should start from by default: the first one that neither succeeded nor failed
 * under `continue`, or an earlier one whose compensation ran.
 */
export function defaultRerunFrom(sequence: Sequence, history: readonly RunEntry[]): string {
  const outcomes = mainOutcomes(history);
  const compensated = firstCompensated(sequence, history);
  for (const [i, spec] of sequence.tasks.entries()) {
    const o = outcomes.get(spec.id);
    if (i === compensated || !o || (o.outcome === 'failed' && spec.onFailure !== 'continue')) return spec.id;
  }
  return sequence.tasks[0]!.id;
}

/**
 * Plans a rerun of `runId` from main task `from`: the tasks before it are reused (their results stand in),
 * the rest run again. A task whose compensation ran in the earlier run (succeeded, failed or was interrupted:
 * it was attempted, so the task's work may be undone) is never reused: the rerun starts at the first such task
 * when it comes before `from`, and the plan says why for each task.
 *
 * Pure: the same sequence and history always give the same plan. The CLI and the HTTP API both use it.
 *
 * @throws LockstepError `UNKNOWN_TASK` when `from` is not a main task of the sequence, `INVALID_USAGE` when a
 * task before it did not succeed (or fail under `continue`) in the earlier run.
 */
export function planRerun(
  sequence: Sequence,
  runId: string,
  history: readonly RunEntry[],
  from: string,
): { plan: RerunPlan; reuse: Reuse } {
  const asked = sequence.tasks.findIndex((t) => t.id === from);
  if (asked < 0) {
    const known = sequence.tasks.map((t) => `"${t.id}"`).join(', ');
    throw new LockstepError(
      ErrorCode.unknownTask,
      `cannot rerun from "${from}": sequence ${sequence.name} has no main task "${from}" (its main tasks: ${known})`,
    );
  }
  const compensated = firstCompensated(sequence, history);
  const index = compensated >= 0 && compensated < asked ? compensated : asked;
  const outcomes = mainOutcomes(history);
  const started = compensationsStarted(history);
  const reused: Array<{ taskId: string; outcome: 'succeeded' | 'continued' }> = [];
  const reuse: { succeeded: Array<{ taskId: string; result?: unknown }>; continued: string[] } = { succeeded: [], continued: [] };
  const steps: RerunStep[] = [];
  for (const spec of sequence.tasks.slice(0, index)) {
    const o = outcomes.get(spec.id);
    if (o?.outcome === 'succeeded') {
      reused.push({ taskId: spec.id, outcome: 'succeeded' });
      reuse.succeeded.push({ taskId: spec.id, ...(o.result === undefined ? {} : { result: o.result }) });
      steps.push({ taskId: spec.id, action: 'reused', reason: `succeeded in run ${runId}` });
    } else if (o?.outcome === 'failed' && spec.onFailure === 'continue') {
      reused.push({ taskId: spec.id, outcome: 'continued' });
      reuse.continued.push(spec.id);
      steps.push({ taskId: spec.id, action: 'reused', reason: `failed under onFailure: continue in run ${runId}` });
    } else {
      throw new LockstepError(
        ErrorCode.invalidUsage,
        `cannot rerun run ${runId} from "${from}": task "${spec.id}" before it ${o ? 'failed' : 'did not run'} in that run, so it has no result to reuse (rerun from "${spec.id}" or earlier)`,
      );
    }
  }
  const start = sequence.tasks[index]!.id;
  for (const [offset, spec] of sequence.tasks.slice(index).entries()) {
    const o = outcomes.get(spec.id);
    let reason: string;
    if (started.has(spec.id)) reason = `its compensation ran in run ${runId}`;
    else if (offset === 0) reason = 'the rerun starts here';
    else if (!o) reason = `did not run in run ${runId}`;
    else if (o.outcome === 'failed') reason = `failed in run ${runId}`;
    else reason = `comes after ${start}, which runs again`;
    steps.push({ taskId: spec.id, action: 'runs', reason });
  }
  const last = sequence.tasks.length - 1;
  const compensations = sequence.tasks
    .map((spec, i) => ({ spec, i }))
    .filter(({ spec, i }) => spec.compensate && i < last && !reuse.continued.includes(spec.id))
    .reverse()
    .map(({ spec, i }) => ({ id: spec.compensate!.id, of: spec.id, reused: i < index }));
  const plan: RerunPlan = {
    runId,
    from: start,
    ...(index === asked ? {} : { requested: from }),
    reused,
    rerun: sequence.tasks.slice(index).map((t) => t.id),
    steps,
    compensations,
    finally: sequence.finally.map((t) => t.id),
  };
  return { plan, reuse };
}

/** One line per task of a plan, for people: `create-order: runs again (its compensation ran in run X)`. */
export function describeRerunSteps(plan: RerunPlan): string[] {
  return plan.steps.map((s) => `${s.taskId}: ${s.action === 'reused' ? 'reused' : 'runs again'} (${s.reason})`);
}
