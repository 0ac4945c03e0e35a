import { formatDuration } from '../sequence/duration.js';
import type { Sequence, TaskSpec, WaitSpec } from '../sequence/types.js';

/**
 * The task view of a sequence: one node per task (main tasks, each compensation, each finally task), a start
 * node and the run's end states, with edges for the order tasks run in. It is what people draw a workflow as
 * (like Step Functions or Airflow); the machine view ({@link MachineGraph}) shows XState's internal states.
 * Retries and timeouts are badges on a node, not loops.
 */

/** What a node of the task view stands for. */
export const TaskNodeKind = {
  start: 'start',
  /** A main task. */
  task: 'task',
  /** The compensation of a main task (`<task>.compensate`). */
  compensation: 'compensation',
  /** A `finally` task. */
  finally: 'finally',
  /** How a run ends: `succeeded`, `failed` or `cancelled`. */
  end: 'end',
} as const;
export type TaskNodeKind = (typeof TaskNodeKind)[keyof typeof TaskNodeKind];

/** What an edge of the task view means. */
export const TaskEdgeKind = {
  /** The task succeeded (or, between compensations and finally tasks, ended): the run goes on. Unlabelled. */
  next: 'next',
  /** The task failed all its attempts (or timed out): `stop` unwinds, `continue` goes on. */
  failure: 'failure',
  /** From the unwinding (compensations, finally tasks) to the end the run reached, labelled `if failed`, ... */
  outcome: 'outcome',
} as const;
export type TaskEdgeKind = (typeof TaskEdgeKind)[keyof typeof TaskEdgeKind];

/** The ends of a run, as the task view draws them. */
export type RunEnd = 'succeeded' | 'failed' | 'cancelled';

/** One node of the task view. */
export interface TaskGraphNode {
  /** {@link taskNodeId}: `task:<task id>`, or `start`, or `end:<outcome>`. */
  readonly id: string;
  readonly kind: TaskNodeKind;
  /** The id of the task dispatched (`build`, `build.compensate`, `cleanup`), for task nodes. */
  readonly taskId?: string;
  /** The task id, or `start`, `succeeded`, `failed`, `cancelled`. */
  readonly label: string;
  /**
   * What runs it differently from one plain attempt, e.g. `up to 3 attempts · timeout 30.0s`; for a wait, what it
   * waits for and until when, e.g. `waits for a signal · expires after 48h`.
   */
  readonly badge?: string;
  /** Set for a wait task (nothing runs it): it waits for a signal, or for its time (a delay). */
  readonly wait?: 'signal' | 'time';
  /** The sequence's task description, if any. */
  readonly description?: string;
}

/** One edge of the task view. */
export interface TaskGraphEdge {
  /** `<source id>-><target id>` (with `:<kind>` when two edges join the same nodes). */
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly kind: TaskEdgeKind;
  /**
   * Failure and outcome edges have one, e.g. `failed`, `failed (continue)`, `if cancelled`; so do a signal wait's:
   * `signal`, `rejected`, `timed out`, `rejected or timed out`, `timed out (continue)`.
   */
  readonly label?: string;
}

/** The task view of one sequence. */
export interface TaskGraph {
  /** `<name> v<version>`. */
  readonly title: string;
  readonly nodes: readonly TaskGraphNode[];
  readonly edges: readonly TaskGraphEdge[];
}

/** Id of the start node. */
export const TASK_START_ID = 'start';

/**
 * The node id of a task (`build`, `build.compensate`, `cleanup`) in the task view: `task:<id>`. Every renderer
 * keeps it (SVG `<g id="task:build">`), so a page can find the node of each task.
 */
export const taskNodeId = (taskId: string): string => `task:${taskId}`;

/** The node id of a run's end in the task view: `end:succeeded`, `end:failed`, `end:cancelled`. */
export const endNodeId = (end: RunEnd): string => `end:${end}`;

/** A duration as a sequence file would say it: `48h`, `2h 30m`, `45s`, `500ms`. */
function span(ms: number): string {
  if (ms < 60_000 || ms % 60_000 !== 0) return formatDuration(ms);
  const hours = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return [hours > 0 ? `${hours}h` : '', m > 0 ? `${m}m` : ''].filter(Boolean).join(' ');
}

/** What a wait waits for and until when: `waits for a signal · expires after 48h`, `waits 2h`, `waits until input.remindAt`. */
function waitBadge(spec: TaskSpec, wait: WaitSpec): string {
  if (wait.for === 'delay') return `waits ${span(wait.delayMs)}`;
  if (wait.for === 'until') return `waits until ${'field' in wait ? `input.${wait.field}` : new Date(wait.at).toISOString()}`;
  const expiry = spec.timeoutMs === undefined ? 'never expires' : `expires after ${span(spec.timeoutMs)}`;
  const onTimeout = spec.timeoutMs !== undefined && wait.onTimeout === 'continue' ? ' (then goes on)' : '';
  const retries = spec.retry.maxAttempts > 1 ? ` · asks up to ${spec.retry.maxAttempts} times` : '';
  return `waits for a signal · ${expiry}${onTimeout}${retries}`;
}

/**
 * `up to 3 attempts · timeout 30.0s`, or `undefined` for one attempt with no timeout. A wait's badge says what it
 * waits for and until when.
 */
export function taskBadge(spec: TaskSpec): string | undefined {
  if (spec.action.kind === 'wait') return waitBadge(spec, spec.action.wait);
  const parts = [
    ...(spec.retry.maxAttempts > 1 ? [`up to ${spec.retry.maxAttempts} attempts`] : []),
    ...(spec.timeoutMs !== undefined ? [`timeout ${formatDuration(spec.timeoutMs)}`] : []),
  ];
  return parts.length > 0 ? parts.join(' · ') : undefined;
}

function taskNode(spec: TaskSpec, kind: TaskNodeKind): TaskGraphNode {
  const badge = taskBadge(spec);
  return {
    id: taskNodeId(spec.id),
    kind,
    taskId: spec.id,
    label: spec.id,
    ...(badge ? { badge } : {}),
    ...(spec.action.kind === 'wait' ? { wait: spec.action.wait.for === 'signal' ? ('signal' as const) : ('time' as const) } : {}),
    ...(spec.description ? { description: spec.description } : {}),
  };
}

/**
 * A signal wait's edges: its signal to the next task; a rejection and (unless onTimeout: continue) its timeout as
 * a failure of the task, by its onFailure; under onTimeout: continue, its timeout to the next task too.
 */
function signalEdges(
  spec: TaskSpec,
  onTimeout: 'fail' | 'continue',
  id: string,
  next: string,
  unwind: string,
  edge: (source: string, target: string, kind: TaskEdgeKind, label?: string) => void,
): void {
  edge(id, next, 'next', 'signal');
  const expires = spec.timeoutMs !== undefined;
  const goesOn = expires && onTimeout === 'continue';
  const fails = expires && !goesOn ? 'rejected or timed out' : 'rejected';
  if (spec.onFailure === 'continue') edge(id, next, 'failure', expires ? 'rejected or timed out (continue)' : 'rejected (continue)');
  else {
    edge(id, unwind, 'failure', fails);
    if (goesOn) edge(id, next, 'failure', 'timed out (continue)');
  }
}

/**
 * Builds the task view of a sequence. Edges: each main task's success goes to the next task (the last one's to
 * the first finally task, or `succeeded`). Its failure under `continue` goes there too (labelled
 * `failed (continue)`); under `stop` (labelled `failed`) to the compensation of the nearest task before it that
 * has one, since only completed tasks are compensated and in reverse order, then along the other compensations
 * to the finally tasks, and to `failed`. The last finally task (or, with none, the last compensation) leads to
 * every end the run can reach from there: `succeeded`, `if failed`, `if cancelled`. End nodes no edge reaches are
 * left out (a cancel with nothing to unwind ends the run at once, from any task: it is not drawn).
 */
export function buildTaskGraph(sequence: Sequence): TaskGraph {
  const nodes: TaskGraphNode[] = [{ id: TASK_START_ID, kind: 'start', label: 'start' }];
  const edges: TaskGraphEdge[] = [];
  const edge = (source: string, target: string, kind: TaskEdgeKind, label?: string) => {
    const id = `${source}->${target}`;
    const taken = edges.some((e) => e.id === id);
    edges.push({ id: taken ? `${id}:${kind}` : id, source, target, kind, ...(label ? { label } : {}) });
  };

  const { tasks } = sequence;
  const fin = sequence.finally;
  const afterMain = fin.length > 0 ? taskNodeId(fin[0]!.id) : endNodeId('succeeded');
  // Compensations run in reverse task order; a stop at task i enters at the nearest compensated task before i.
  const compensated = tasks.filter((t) => t.compensate);
  const afterCompensation = fin.length > 0 ? taskNodeId(fin[0]!.id) : endNodeId('failed');
  const unwindFrom = (index: number): string => {
    const before = tasks.slice(0, index).findLast((t) => t.compensate);
    return before ? taskNodeId(before.compensate!.id) : afterCompensation;
  };

  for (const spec of tasks) nodes.push(taskNode(spec, 'task'));
  for (const spec of [...compensated].reverse()) nodes.push(taskNode(spec.compensate!, 'compensation'));
  for (const spec of fin) nodes.push(taskNode(spec, 'finally'));

  edge(TASK_START_ID, tasks.length > 0 ? taskNodeId(tasks[0]!.id) : afterMain, 'next');
  tasks.forEach((spec, i) => {
    const next = i + 1 < tasks.length ? taskNodeId(tasks[i + 1]!.id) : afterMain;
    const id = taskNodeId(spec.id);
    const wait = spec.action.kind === 'wait' ? spec.action.wait : undefined;
    if (wait?.for === 'signal') {
      signalEdges(spec, wait.onTimeout, id, next, unwindFrom(i), edge);
      return;
    }
    edge(id, next, 'next');
    // A delay cannot fail: it ends when its time comes (a cancel or the run timeout is drawn from no task).
    if (wait) return;
    if (spec.onFailure === 'continue') edge(id, next, 'failure', 'failed (continue)');
    else edge(id, unwindFrom(i), 'failure', 'failed');
  });
  const chain = [...compensated].reverse();
  chain.forEach((spec, i) => {
    // With no finally task, the last compensation's edges are the ends drawn below.
    if (i + 1 < chain.length) edge(taskNodeId(spec.compensate!.id), taskNodeId(chain[i + 1]!.compensate!.id), 'next');
    else if (fin.length > 0) edge(taskNodeId(spec.compensate!.id), afterCompensation, 'next');
  });
  fin.forEach((spec, i) => {
    if (i + 1 < fin.length) edge(taskNodeId(spec.id), taskNodeId(fin[i + 1]!.id), 'next');
  });
  // The end of the unwinding: every end a run reaches through it.
  const last = fin.at(-1) ?? chain.at(-1)?.compensate;
  if (last) {
    const id = taskNodeId(last.id);
    if (fin.length > 0) edge(id, endNodeId('succeeded'), 'next');
    edge(id, endNodeId('failed'), 'outcome', fin.length > 0 ? 'if failed' : undefined);
    edge(id, endNodeId('cancelled'), 'outcome', 'if cancelled');
  }

  const reached = new Set(edges.map((e) => e.target));
  for (const end of ['succeeded', 'failed', 'cancelled'] as const) {
    if (reached.has(endNodeId(end))) nodes.push({ id: endNodeId(end), kind: 'end', label: end });
  }
  return { title: `${sequence.name} v${sequence.version}`, nodes, edges };
}
