import type { CurrentTask, RunContext } from '../compile/types.js';
import { timerIds, timerOf } from '../compile/types.js';
import type { Problem } from '../sequence/problems.js';
import type { Phase, TaskSpec } from '../sequence/types.js';
import type { Program } from '../step.js';
import type { RunState } from './run-state.js';
import { REJECTED_STATE } from './run-state.js';

/** The regions of a run's machine that hold one state per task, and the phase of their tasks. */
const REGIONS: Readonly<Record<string, Phase>> = { main: 'main', compensating: 'compensate', finalizing: 'finally' };

/** States a run passes through within one step: a snapshot never rests in them. */
const TRANSIENT = new Set(['check', 'settling']);

/** States that wait for a stopped attempt to end: they need one. */
const WAITING = new Set(['waiting', 'draining']);

interface StateNodeLike {
  readonly type: string;
  readonly states: Readonly<Record<string, StateNodeLike>>;
}

/** The path of state names a value stands for, or why it stands for none. */
function pathOf(value: unknown): string[] | string {
  const path: string[] = [];
  let v = value;
  while (typeof v !== 'string') {
    const keys = v !== null && typeof v === 'object' ? Object.keys(v) : [];
    if (keys.length !== 1)
      return `expected one child state under ${path.length > 0 ? `"${path.join('.')}"` : 'the root'}, got ${keys.length}`;
    path.push(keys[0]!);
    v = (v as Record<string, unknown>)[keys[0]!];
  }
  path.push(v);
  return path;
}

const describeAttempt = (a: CurrentTask | null | undefined) => (a ? `task "${a.taskId}" attempt ${a.attempt} (${a.phase})` : 'null');

/** Task ids of a sequence, with the phase each runs in. */
function phasesOf(program: Program): Map<string, Phase> {
  const phases = new Map<string, Phase>();
  for (const t of program.sequence.tasks) {
    phases.set(t.id, 'main');
    if (t.compensate) phases.set(t.compensate.id, 'compensate');
  }
  for (const t of program.sequence.finally) phases.set(t.id, 'finally');
  return phases;
}

function specOf(program: Program, region: string, key: string): TaskSpec | undefined {
  if (region === 'finalizing') return program.sequence.finally.find((t) => t.id === key);
  const task = program.sequence.tasks.find((t) => t.id === key);
  return region === 'compensating' ? task?.compensate : task;
}

/** Problems of the state value and what it implies about the attempt in flight, the stopped one and the timers. */
function stateProblems(program: Program, state: RunState, context: RunContext, out: Problem[]): void {
  const path = pathOf(state.snapshot.value);
  if (typeof path === 'string') {
    out.push({ path: 'snapshot.value', message: path });
    return;
  }
  const name = path.join('.');
  let node = program.machine.root as unknown as StateNodeLike;
  for (const key of path) {
    const child = Object.hasOwn(node.states, key) ? node.states[key] : undefined;
    if (!child) {
      out.push({
        path: 'snapshot.value',
        message: `"${name}" is not a state of sequence ${program.sequence.name} ${program.sequence.version}`,
      });
      return;
    }
    node = child;
  }
  const leaf = path[path.length - 1]!;
  if (node.type !== 'atomic' && node.type !== 'final') {
    out.push({ path: 'snapshot.value', message: `"${name}" has states within it: expected one of them` });
    return;
  }
  if (node.type === 'final' && state.status === 'running') {
    out.push({ path: 'snapshot.value', message: `"${name}" is a final state, but the run's status is "running"` });
    return;
  }
  if (TRANSIENT.has(leaf)) {
    out.push({ path: 'snapshot.value', message: `"${name}" is passed through within a step, never kept` });
    return;
  }
  if (WAITING.has(leaf) && !context.stopping) {
    out.push({ path: 'snapshot.context.stopping', message: `required in state "${name}", which waits for a stopped attempt to end` });
  }
  const phase: Phase | undefined = REGIONS[path[0]!];
  const spec = phase && path.length === 3 ? specOf(program, path[0]!, path[1]!) : undefined;
  if (spec && phase && leaf === 'running') {
    const want = { taskId: spec.id, attempt: context.attempts[spec.id] ?? 1, phase };
    const current = context.current;
    if (!current || current.taskId !== want.taskId || current.phase !== want.phase || current.attempt !== want.attempt) {
      out.push({
        path: 'snapshot.context.current',
        message: `expected ${describeAttempt(want)} in state "${name}", got ${describeAttempt(current)}`,
      });
    }
    // A delay ends only when its timer fires: without it, the restored run would wait for ever.
    if (spec.action.kind === 'wait' && spec.action.wait.for !== 'signal') {
      const due = timerIds.wait(spec.id, want.attempt);
      if (state.timers[due] === undefined)
        out.push({ path: 'timers', message: `expected the wait timer "${due}" in state "${name}", got none` });
    }
    return;
  }
  if (context.current) {
    out.push({
      path: 'snapshot.context.current',
      message: `expected null in state "${name}" (no attempt in flight), got ${describeAttempt(context.current)}`,
    });
  }
  if (spec && leaf === 'backoff') {
    const dispatched = context.attempts[spec.id] ?? 0;
    const retry = timerIds.retry(spec.id, dispatched);
    if (dispatched < 1)
      out.push({ path: `snapshot.context.attempts.${spec.id}`, message: `required in state "${name}" (a retry follows a failed attempt)` });
    else if (state.timers[retry] === undefined)
      out.push({ path: 'timers', message: `expected the retry timer "${retry}" in state "${name}", got none` });
  }
}

/** Problems of the task ids a record names: each must be a task of the sequence, of the right phase where that matters. */
function idProblems(program: Program, state: RunState, context: RunContext, out: Problem[]): void {
  const phases = phasesOf(program);
  const where = `sequence ${program.sequence.name} ${program.sequence.version}`;
  const check = (path: string, taskId: string, phase?: Phase) => {
    const actual = phases.get(taskId);
    if (actual === undefined) out.push({ path, message: `unknown task "${taskId}" (not in ${where})` });
    else if (phase && actual !== phase) out.push({ path, message: `expected a ${phase} task, got "${taskId}" (a ${actual} task)` });
  };
  for (const field of ['attempts', 'failures', 'results'] as const) {
    for (const id of Object.keys(context[field])) check(`snapshot.context.${field}.${id}`, id);
  }
  const lists = {
    completed: 'main',
    continued: 'main',
    compensated: 'compensate',
    compensationFailed: 'compensate',
    finallyFailed: 'finally',
  } as const;
  for (const [field, phase] of Object.entries(lists)) {
    context[field as keyof typeof lists].forEach((id, i) => check(`snapshot.context.${field}[${i}]`, id, phase));
  }
  for (const field of ['current', 'stopping'] as const) {
    const attempt = context[field];
    if (attempt) check(`snapshot.context.${field}`, attempt.taskId, attempt.phase);
  }
  if (context.error) check('snapshot.context.error.taskId', context.error.taskId);
  state.completions.forEach((c, i) => check(`completions[${i}]`, c.slice(0, c.lastIndexOf(':'))));
  for (const id of Object.keys(state.timers)) {
    const timer = timerOf(id);
    if (timer && timer.kind !== 'run') check(`timers.${id}`, timer.taskId);
    else if (timer && !program.sequence.timeoutMs) out.push({ path: `timers.${id}`, message: `${where} has no run timeout` });
  }
}

/**
 * What keeps a run-state record from restoring into `program` and stepping, beyond what its schema checks: its
 * state must be one the sequence's machine rests in, with the attempt in flight, the stopped attempt and the
 * retry or delay timer that state implies, and every task id it names must be one of the sequence's. Empty when the
 * record restores. The record must have passed `RunStateSchema`.
 */
export function restoreProblems(program: Program, state: RunState): Problem[] {
  if (state.snapshot.value === REJECTED_STATE)
    return [{ path: 'snapshot.value', message: 'the run never started: there is nothing to restore' }];
  const context = state.snapshot.context as unknown as RunContext;
  const problems: Problem[] = [];
  stateProblems(program, state, context, problems);
  idProblems(program, state, context, problems);
  return problems;
}
