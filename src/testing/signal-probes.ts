import { indexTasks } from '../core/paths/expectation.js';
import type { ExecutionEvent } from '../core/paths/invariants.js';
import type { PathStep } from '../core/paths/path-graph.js';
import { StepToken, waitOf } from '../core/paths/run-model.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';

/** The sum of a count record's values (the orchestrator's ignored events, by reason). */
export const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** What a session looks at before and after a probe: the run's entries, the executor's events, the counts. */
export interface ProbeView {
  readonly entries: readonly RunEntry[];
  readonly executions: readonly ExecutionEvent[];
  readonly stats: { readonly applied: number; readonly ignored: Record<string, number> };
}

/**
 * How an injected event (a duplicate, late or early signal) changed a run it must leave alone: entries besides
 * event.ignored, applied events, attempts started, or a count of ignored events other than one.
 */
export function ignoredProbeProblems(
  { entries, executions, stats }: ProbeView,
  before: { readonly entries: number; readonly executions: number; readonly applied: number; readonly ignored: number },
): string[] {
  const problems: string[] = [];
  const added = entries.slice(before.entries).filter((e) => e.type !== 'event.ignored');
  if (added.length > 0)
    problems.push(`the orchestrator recorded ${added.map((e) => ('task' in e ? `${e.type} ${e.task}#${e.attempt}` : e.type)).join(', ')}`);
  if (stats.applied !== before.applied) problems.push(`${stats.applied - before.applied} event(s) were applied`);
  const started = executions.slice(before.executions).filter((x) => x.kind === 'start');
  if (started.length > 0) problems.push(`the executor started ${started.map((x) => `${x.taskId}#${x.attempt}`).join(', ')}`);
  const counted = sum(stats.ignored) - before.ignored;
  if (counted !== 1) problems.push(`it was counted as ignored ${counted} times instead of once`);
  return problems;
}

/** The signal a step of a signal wait is followed by, which the run must ignore: a duplicate, or one too late. */
export function lateSignal(
  step: PathStep,
  of: Sequence,
): { readonly what: string; readonly taskId: string; readonly attempt: number } | undefined {
  if (step.waiting !== undefined && step.token === StepToken.cancel) {
    if (waitOf(indexTasks(of).spec(step.waiting))?.for !== 'signal') return undefined;
    return { what: `a late signal for ${step.waiting} after the cancel`, taskId: step.waiting, attempt: 1 };
  }
  if (step.wait !== 'signal' || step.taskId === undefined || step.attempt === undefined) return undefined;
  const at = { taskId: step.taskId, attempt: step.attempt };
  switch (step.token) {
    case StepToken.succeed:
      return { what: `a duplicate signal for ${step.taskId}`, ...at };
    case StepToken.fail:
      return { what: `a late signal for ${step.taskId} after its rejection`, ...at };
    case StepToken.timeout:
      return { what: `a late signal for ${step.taskId} after it timed out`, ...at };
    default:
      return undefined;
  }
}
