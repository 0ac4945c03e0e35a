import type { StateValue } from '../graph/model.js';
import { activeNodeIds } from '../graph/model.js';
import type { Phase } from '../sequence/types.js';
import type { RunFacts } from './run-facts.js';

/** What a run is doing, as views colour it. */
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

/** Where a run is in its machine: its state value, read with what its history says it has done. */
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

// `draining`: the run is over but for an attempt it stopped, which it waits for before it ends.
const REGION_KIND: Record<string, StateKind> = {
  main: StateKind.running,
  compensating: StateKind.compensating,
  finalizing: StateKind.cleaningUp,
  draining: StateKind.cleaningUp,
};

/** The view of a run's state, from its state value (as the orchestrator reported it) and its facts (or its context). */
export function stateView(value: StateValue, facts: RunFacts): RunStateView {
  const activeNodes = activeNodeIds(value);
  const node = activeNodes.at(-1) ?? String(value);
  const [region, taskNode, inner] = node.split('.');
  let kind: StateKind = StateKind.failed;
  if (region !== undefined && region in REGION_KIND) kind = REGION_KIND[region]!;
  else if (region === 'succeeded' || region === 'cancelled' || region === 'failed') kind = region;
  if (kind === StateKind.running && inner === 'backoff') kind = StateKind.retrying;
  const current = facts.current;
  const task = current?.taskId ?? (taskNode !== undefined ? (region === 'compensating' ? `${taskNode}.compensate` : taskNode) : undefined);
  const attempt = current?.attempt ?? (task !== undefined ? facts.attempts[task] : undefined);
  const phase: Phase | undefined =
    current?.phase ??
    (region === 'main' ? 'main' : region === 'compensating' ? 'compensate' : region === 'finalizing' ? 'finally' : undefined);
  return {
    value,
    activeNodes,
    node,
    kind,
    ...(task !== undefined ? { task } : {}),
    ...(taskNode !== undefined ? { taskNode } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
    ...(phase !== undefined ? { phase } : {}),
    completed: facts.completed,
    continued: facts.continued,
    ...(facts.error ? { failedTask: facts.error.taskId } : {}),
    compensated: facts.compensated,
    compensationFailed: facts.compensationFailed,
    finallyFailed: facts.finallyFailed,
    ...(facts.reason ? { reason: facts.reason } : {}),
    ...(facts.stopping ? { stopping: { task: facts.stopping.taskId, attempt: facts.stopping.attempt, phase: facts.stopping.phase } } : {}),
  };
}
