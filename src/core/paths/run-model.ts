import type { ActorLogic, AnyStateNode, AnyTransitionDefinition, InspectionEvent } from 'xstate';
import { backoffDelay } from '../compile/backoff.js';
import { inertScope } from '../compile/inert-scope.js';
import type { RunMachine } from '../compile/machine.js';
import { compile } from '../compile/machine.js';
import type { Command, CurrentTask, RunEvent } from '../compile/types.js';
import { STOP_GRACE_MS, timerIds } from '../compile/types.js';
import { ErrorCode } from '../errors.js';
import type { Phase, Sequence, TaskSpec, WaitSpec } from '../sequence/types.js';
import { untilDueAt } from '../sequence/wait.js';
import type { RunSnapshot } from '../step.js';
import { indexTasks } from './task-index.js';

/** What one step of a path does, as a one-letter token. A path id is its tokens in order. */
export const StepToken = {
  /** The attempt in flight succeeds. */
  succeed: 'S',
  /** The attempt in flight fails (retriable). */
  fail: 'F',
  /** The attempt in flight hangs until its task timeout fires. */
  timeout: 'T',
  /** The backoff timer fires and the next attempt starts. */
  retry: 'R',
  /** The run is cancelled. */
  cancel: 'C',
  /** The whole-run timeout fires. */
  runTimeout: 'X',
  /** The attempt the run stopped (timeout, cancel, run timeout) ends: its own report of the abort arrives. */
  stopped: 'E',
  /** The stopped attempt ignores its abort and reports success (a handler that never reads its signal). */
  stoppedOk: 'D',
  /** The stopped attempt never reports: its stop grace runs out and the run goes on without it. */
  grace: 'G',
  /** A wait's delay comes due (`wait.duration`, `wait.until`): the wait task succeeds. */
  due: 'W',
} as const;
export type StepToken = (typeof StepToken)[keyof typeof StepToken];

/** One node of the compiled machine's definition, for coverage. */
export interface ModelStateNode {
  /** The state node id, e.g. `run.main.fetch.backoff`. */
  readonly id: string;
}

/** One transition of the compiled machine's definition, for coverage. */
export interface ModelTransition {
  /** Stable id: `<source>:<event>:<index>`, e.g. `run.main.fetch.running:TASK_FAILED:0`. */
  readonly id: string;
  /** Readable form: `main.fetch.running -TASK_FAILED [canRetry]-> main.fetch.backoff`. */
  readonly label: string;
  /** Event type; `always` for eventless transitions. */
  readonly event: string;
}

/**
 * A state of the path model: the run's snapshot plus simulated time and the timers pending in it, so that
 * only the timer that really comes due first can fire.
 */
export interface ModelState {
  readonly status: 'active' | 'done';
  readonly output: undefined;
  readonly error: undefined;
  readonly run: RunSnapshot;
  /** Simulated milliseconds since the run started. */
  readonly now: number;
  /** Pending timers in the order they fire: by due time, then arming order. */
  readonly timers: ReadonlyArray<readonly [timerId: string, dueMs: number]>;
  /** Ids of the definition transitions the step into this state took (eventless ones included). */
  readonly via: readonly string[];
  /** Ids of the state nodes active at any microstep of the step into this state. */
  readonly entered: readonly string[];
}

/** The compiled machine seen as a graph over outcome events, ready for @xstate/graph. */
export interface RunModel {
  readonly sequence: Sequence;
  readonly machine: RunMachine;
  /** The model as actor logic: `transition(state, event)` steps the machine and moves simulated time. */
  readonly logic: ActorLogic<ModelState, RunEvent>;
  readonly initial: ModelState;
  /** The outcome events possible in a state: task outcomes, due timers and cancellation. */
  events(state: ModelState): RunEvent[];
  /** Identifies states with the same future, so that the graph stays small. */
  key(state: ModelState): string;
  /** Every state node and transition of the definition. */
  readonly stateNodes: readonly ModelStateNode[];
  readonly transitions: readonly ModelTransition[];
  /** The longest the main phase can take: every attempt timing out, every backoff at its longest. */
  readonly longestMainMs: number;
  /** The task an event is about and its phase, if any. */
  taskOf(state: ModelState, event: RunEvent): { taskId: string; attempt: number; phase: Phase } | undefined;
}

/** The token of an event, in a state where `stopping` is the attempt the run waits for (if any). */
export function tokenOf(event: RunEvent, stopping: CurrentTask | null = null): StepToken {
  switch (event.type) {
    case 'TASK_SUCCEEDED':
    case 'TASK_FAILED':
    case 'TASK_INTERRUPTED':
      if (stopping && event.taskId === stopping.taskId && event.attempt === stopping.attempt) {
        return event.type === 'TASK_SUCCEEDED' ? StepToken.stoppedOk : StepToken.stopped;
      }
      return event.type === 'TASK_SUCCEEDED' ? StepToken.succeed : StepToken.fail;
    case 'CANCEL':
      return StepToken.cancel;
    case 'TIMER_FIRED':
      if (event.timerId === timerIds.run) return StepToken.runTimeout;
      if (event.timerId.startsWith('stop:')) return StepToken.grace;
      if (event.timerId.startsWith('wait:')) return StepToken.due;
      return event.timerId.startsWith('retry:') ? StepToken.retry : StepToken.timeout;
  }
}

/**
 * The run id the model and the path runner share: backoff jitter derives from it, so both must agree on delays.
 */
export const PATH_RUN_ID = 'path-run';

/** The failure a scripted attempt reports. */
export const SCRIPTED_FAILURE = { message: 'scripted failure', code: 'TASK_FAILED', retriable: true } as const;

/** The reason a path's rejections give. */
export const SCRIPTED_REJECTION = 'rejected by the path';

/** The wait a task is, if it is one. */
export function waitOf(spec: TaskSpec | undefined): WaitSpec | undefined {
  return spec?.action.kind === 'wait' ? spec.action.wait : undefined;
}

/**
 * The input a path's run starts with: none, unless a wait waits until an input field (`until: input.remindAt`);
 * then each such field holds a time an hour apart, from an hour after the simulated clock's start.
 */
export function pathInput(sequence: Sequence): unknown {
  const fields = [...sequence.tasks, ...sequence.finally].flatMap((t) => {
    const wait = waitOf(t);
    return wait?.for === 'until' && 'field' in wait ? [wait.field] : [];
  });
  if (fields.length === 0) return undefined;
  const input: Record<string, unknown> = {};
  fields.forEach((field, i) => {
    const keys = field.split('.');
    let at = input;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys[keys.length - 1]!] = new Date((i + 1) * 3_600_000).toISOString();
  });
  return input;
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

const shortId = (id: string) => id.replace(/^run\./, '');

function catalog(machine: RunMachine): { nodes: AnyStateNode[]; transitions: Map<AnyTransitionDefinition, ModelTransition> } {
  const nodes = allNodes(machine.root as AnyStateNode);
  const transitions = new Map<AnyTransitionDefinition, ModelTransition>();
  for (const node of nodes) {
    const groups: Array<[string, readonly AnyTransitionDefinition[]]> = [...(node.transitions as Map<string, AnyTransitionDefinition[]>)];
    if (node.always) groups.push(['always', node.always]);
    for (const [event, list] of groups) {
      list.forEach((t, index) => {
        const guard = t.guard && typeof t.guard === 'object' && 'type' in t.guard ? ` [${String(t.guard.type)}]` : '';
        const targets = t.target?.map((n) => shortId(n.id)).join(', ') ?? '(self)';
        transitions.set(t, { id: `${node.id}:${event}:${index}`, label: `${shortId(node.id)} -${event}${guard}-> ${targets}`, event });
      });
    }
  }
  return { nodes, transitions };
}

/** The path of the active leaf of a state value, e.g. `['main', 'fetch', 'backoff']`. */
function leafPath(value: unknown): string[] {
  const path: string[] = [];
  let v = value;
  while (v && typeof v === 'object') {
    const [k, next] = Object.entries(v as Record<string, unknown>)[0]!;
    path.push(k);
    v = next;
  }
  if (typeof v === 'string') path.push(v);
  return path;
}

/** Builds the path model of a sequence's compiled machine. Pure: time is simulated in the model's states. */
export function createRunModel(sequence: Sequence): RunModel {
  const machine = compile(sequence);
  const { nodes, transitions } = catalog(machine);
  const index = indexTasks(sequence);

  // Which task spec a region of the machine runs: `main.<id>`, `compensating.<id>` (its compensation), `finalizing.<id>`.
  const specOfRegion = new Map<string, { taskId: string; phase: Phase }>();
  for (const t of sequence.tasks) {
    specOfRegion.set(`main.${t.id}`, { taskId: t.id, phase: 'main' });
    if (t.compensate) specOfRegion.set(`compensating.${t.id}`, { taskId: t.compensate.id, phase: 'compensate' });
  }
  for (const t of sequence.finally) specOfRegion.set(`finalizing.${t.id}`, { taskId: t.id, phase: 'finally' });
  const activeSpec = (run: RunSnapshot) => specOfRegion.get(leafPath(run.value).slice(0, 2).join('.'));

  // One inert actor scope: commands are collected, transitions and entered nodes come from inspection.
  let commands: Command[] = [];
  let via: string[] = [];
  let entered = new Set<string>();
  const inspect = (ev: InspectionEvent) => {
    if (ev.type !== '@xstate.microstep') return;
    for (const t of ev._transitions) {
      const info = transitions.get(t);
      if (info) via.push(info.id);
    }
    for (const n of (ev.snapshot as unknown as { _nodes: AnyStateNode[] })._nodes) entered.add(n.id);
  };
  const scope = inertScope(machine, (command) => commands.push(command), { runId: PATH_RUN_ID, inspect });
  const record = <T>(run: () => T) => {
    commands = [];
    via = [];
    entered = new Set();
    const result = run();
    return { result, commands, via, entered: [...entered] };
  };

  const withTimers = (timers: ModelState['timers'], cs: readonly Command[], now: number): ModelState['timers'] => {
    let next = [...timers];
    for (const c of cs) {
      if (c.type === 'cancelTimer' || c.type === 'startTimer') next = next.filter(([id]) => id !== c.timerId);
      if (c.type === 'startTimer') {
        const due = c.atMs ?? now + c.delayMs;
        const at = next.findIndex(([, d]) => d > due);
        next.splice(at === -1 ? next.length : at, 0, [c.timerId, due]);
      }
    }
    return next;
  };
  const stateOf = (
    run: RunSnapshot,
    now: number,
    timers: ModelState['timers'],
    v: readonly string[],
    e: readonly string[],
  ): ModelState => ({
    status: run.status === 'done' ? 'done' : 'active',
    output: undefined,
    error: undefined,
    run,
    now,
    timers,
    via: v,
    entered: e,
  });

  const input = pathInput(sequence);
  const started = record(
    () => machine.getInitialSnapshot(scope, { runId: PATH_RUN_ID, ...(input === undefined ? {} : { input }) }) as RunSnapshot,
  );
  const initial = stateOf(started.result, 0, withTimers([], started.commands, 0), started.via, started.entered);

  const transition = (state: ModelState, event: RunEvent): ModelState => {
    let now = state.now;
    let timers = state.timers;
    if (event.type === 'TIMER_FIRED') {
      const due = timers.find(([id]) => id === event.timerId)?.[1];
      if (due === undefined) return state;
      now = Math.max(now, due); // a wait until a time already past is due at once
      timers = timers.filter(([id]) => id !== event.timerId);
    }
    const stepped = record(() => machine.transition(state.run, event, scope) as RunSnapshot);
    if (stepped.result === state.run) return state;
    return stateOf(stepped.result, now, withTimers(timers, stepped.commands, now), stepped.via, stepped.entered);
  };

  const events = (state: ModelState): RunEvent[] => {
    if (state.status === 'done') return [];
    const out: RunEvent[] = [];
    const current = state.run.context.current;
    const inMain = leafPath(state.run.value)[0] === 'main';
    if (current) {
      const { taskId, attempt } = current;
      const wait = waitOf(index.spec(taskId));
      // A signal wait ends with a signal or a rejection; a delay only when its timer comes due.
      if (!wait) out.push({ type: 'TASK_SUCCEEDED', taskId, attempt }, { type: 'TASK_FAILED', taskId, attempt, error: SCRIPTED_FAILURE });
      else if (wait.for === 'signal') {
        const error = { message: `rejected: ${SCRIPTED_REJECTION}`, code: ErrorCode.signalRejected, retriable: false };
        out.push({ type: 'TASK_SUCCEEDED', taskId, attempt }, { type: 'TASK_FAILED', taskId, attempt, error });
      }
    }
    // A stopped attempt reports its abort, or ignores it and succeeds, unless its stop grace (a timer, below) runs
    // out first.
    const stopping = state.run.context.stopping;
    if (stopping) {
      const { taskId, attempt } = stopping;
      out.push({ type: 'TASK_FAILED', taskId, attempt, error: SCRIPTED_FAILURE }, { type: 'TASK_SUCCEEDED', taskId, attempt });
    }
    const due = state.timers[0];
    if (due) out.push({ type: 'TIMER_FIRED', timerId: due[0] });
    if (inMain) out.push({ type: 'CANCEL' });
    return out;
  };

  // Longest the main phase can still take from task i on: every attempt timing out, every backoff at its longest,
  // every stopped attempt taking its whole stop grace to end.
  const worstFrom = new Map<string, number>();
  let worst = 0;
  for (const t of [...sequence.tasks].reverse()) {
    const { maxAttempts, backoff } = t.retry;
    const wait = waitOf(t);
    // A wait stops nothing, but a delay takes its time: a wait until a time, at most that time since the start.
    const grace = t.timeoutMs === undefined || wait ? 0 : STOP_GRACE_MS;
    for (let k = 1; k < maxAttempts; k++) worst += Math.max(backoffDelay({ ...backoff, jitter: 0 }, k, ''), grace);
    worst += maxAttempts * (t.timeoutMs ?? 0) + (t.onFailure === 'continue' ? grace : 0);
    if (wait?.for === 'delay') worst += wait.delayMs;
    else if (wait?.for === 'until') worst += Math.max(0, untilDueAt(wait, input) ?? 0);
    worstFrom.set(t.id, worst);
  }
  const worstRemaining = (mainTask: string | undefined) => (mainTask === undefined ? 0 : (worstFrom.get(mainTask) ?? 0));

  const key = (state: ModelState): string => {
    const run = state.run;
    const ctx = run.context;
    const spec = activeSpec(run)?.taskId;
    // Due times only matter while the run timer races the task's timers.
    const runTimer = state.timers.find(([id]) => id === timerIds.run);
    // The run timer races the task timers only while it could come due before one of them; with more time
    // left than the rest of the main phase can take, the exact time no longer matters.
    const racing = runTimer !== undefined && runTimer[1] - state.now <= worstRemaining(leafPath(run.value)[1]);
    return JSON.stringify([
      run.value,
      spec,
      spec ? (ctx.attempts[spec] ?? 0) : 0,
      spec ? (ctx.failures[spec] ?? 0) : 0,
      ctx.stopping,
      ctx.completed,
      ctx.outcome,
      ctx.finallyFailed.length > 0,
      racing ? state.now : -1,
      racing ? state.timers : state.timers.map(([id]) => id),
    ]);
  };

  const taskOf = (state: ModelState, event: RunEvent) => {
    const stopping = state.run.context.stopping;
    const token = tokenOf(event, stopping);
    if (stopping && (token === StepToken.stopped || token === StepToken.stoppedOk || token === StepToken.grace)) return { ...stopping };
    const region = activeSpec(state.run);
    if (!region) return undefined;
    if (event.type === 'TASK_SUCCEEDED' || event.type === 'TASK_FAILED')
      return { taskId: event.taskId, attempt: event.attempt, phase: region.phase };
    if (event.type === 'TIMER_FIRED' && event.timerId !== timerIds.run) {
      return { taskId: region.taskId, attempt: state.run.context.attempts[region.taskId] ?? 0, phase: region.phase };
    }
    return undefined;
  };

  const logic = {
    transition: (s: ModelState, e: RunEvent) => transition(s, e),
    getInitialSnapshot: () => initial,
    getPersistedSnapshot: (s: ModelState) => s,
  } as unknown as ActorLogic<ModelState, RunEvent>;

  return {
    sequence,
    machine,
    logic,
    initial,
    events,
    key,
    taskOf,
    longestMainMs: worstRemaining(sequence.tasks[0]?.id),
    stateNodes: nodes.map((n) => ({ id: n.id })),
    transitions: [...transitions.values()],
  };
}
