import { getAdjacencyMap } from '@xstate/graph';
import type { RunEvent } from '../compile/types.js';
import { ErrorCode, LockstepError } from '../errors.js';
import { formatDuration } from '../sequence/duration.js';
import type { Phase } from '../sequence/types.js';
import { createRandom } from './random.js';
import type { ModelState, RunModel, StepToken } from './run-model.js';
import { StepToken as Token, tokenOf, waitOf } from './run-model.js';
import { indexTasks } from './task-index.js';

/** One step of a path: an outcome event and what it is about. */
export interface PathStep {
  readonly token: StepToken;
  /** The event the orchestrator should apply at this step. */
  readonly event: RunEvent;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly phase?: Phase;
  /** What the step's task waits for, when it is a wait task: a signal (`wait.signal`) or its time (a delay). */
  readonly wait?: 'signal' | 'time';
  /** The wait task in progress when the run was cancelled or timed out: it ended at once, nothing to stop. */
  readonly waiting?: string;
  /** Readable form, e.g. `charge#2 timeout`, or for a wait `approve: signal`. */
  readonly label: string;
}

/** A path from a run's start to one of its final states. */
export interface ModelPath {
  /** The path's tokens, e.g. `SSFRFC`: it replays the path with `lockstep test <file> --path <id>`. */
  readonly id: string;
  readonly steps: readonly PathStep[];
  /** Definition transitions the path takes, eventless ones included. */
  readonly transitions: readonly string[];
  /** State nodes the path enters. */
  readonly states: readonly string[];
}

interface Node {
  readonly key: string;
  readonly state: ModelState;
  readonly out: Edge[];
  readonly in: Edge[];
}

interface Edge {
  readonly from: Node;
  readonly to: Node;
  readonly step: PathStep;
  readonly via: readonly string[];
  readonly entered: readonly string[];
}

/** The graph of a run model: every reachable state once, and the outcome events between them. */
export interface PathGraph {
  readonly model: RunModel;
  /** Number of distinct complete paths. */
  readonly total: bigint;
  /** Definition transitions and state nodes some path can take or enter. */
  readonly reachableTransitions: readonly string[];
  readonly reachableStates: readonly string[];
  /** Graph size, for reports. */
  readonly size: { readonly states: number; readonly edges: number };
  /**
   * Every path when there are at most `maxPaths`; otherwise a seeded sample of `maxPaths` paths that takes every
   * reachable transition and enters every reachable state at least once (the sample grows past `maxPaths` when
   * that needs more paths).
   */
  select(options: { readonly maxPaths: number; readonly seed: string | number }): { paths: ModelPath[]; exhaustive: boolean };
  /**
   * The path with this id.
   *
   * @throws LockstepError (`INVALID_USAGE`) when a token is not possible where it appears, or the path does not end.
   */
  path(id: string): ModelPath;
}

/** A wait's step in its user's words: `approve: signal`, `approve#2: timed out`, `cool-off: due`. */
function waitLabel(step: Omit<PathStep, 'label'>, task: string): string | undefined {
  if (step.waiting !== undefined)
    return step.token === Token.cancel ? `${step.waiting}: cancelled while waiting` : `${step.waiting}: run timed out while waiting`;
  if (step.wait === undefined) return undefined;
  switch (step.token) {
    case Token.succeed:
      return `${task}: signal`;
    case Token.fail:
      return `${task}: rejected`;
    case Token.timeout:
      return `${task}: timed out`;
    case Token.retry:
      return `${step.taskId}: asks again`;
    case Token.due:
      return `${task}: due`;
    default:
      return undefined;
  }
}

function label(step: Omit<PathStep, 'label'>): string {
  const task = step.taskId ? `${step.taskId}${(step.attempt ?? 1) > 1 ? `#${step.attempt}` : ''}` : '';
  const wait = waitLabel(step, task);
  if (wait !== undefined) return wait;
  switch (step.token) {
    case Token.succeed:
      return `${task} ok`;
    case Token.fail:
      return `${task} fail`;
    case Token.timeout:
      return `${task} timeout`;
    case Token.retry:
      return `${step.taskId} retry`;
    case Token.cancel:
      return 'cancel';
    case Token.runTimeout:
      return 'run timeout';
    case Token.stopped:
      return `${task} ended (stopped)`;
    case Token.stoppedOk:
      return `${task} succeeded anyway (stopped)`;
    case Token.grace:
      return `${task} stop grace expired`;
    case Token.due:
      return `${task} due`;
  }
}

/** Orders path ids the way a full enumeration lists them: success first, then failure, timers, cancellation. */
const RANK: Record<string, number> = {
  [Token.succeed]: 0,
  [Token.due]: 0,
  [Token.fail]: 1,
  [Token.stopped]: 1,
  [Token.stoppedOk]: 1,
  [Token.timeout]: 2,
  [Token.retry]: 2,
  [Token.runTimeout]: 2,
  [Token.grace]: 2,
  [Token.cancel]: 3,
};
function byEventOrder(a: string, b: string): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = RANK[a[i]!]! - RANK[b[i]!]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function toPath(edges: readonly Edge[]): ModelPath {
  const transitions = new Set<string>();
  const states = new Set<string>();
  for (const e of edges) {
    for (const t of e.via) transitions.add(t);
    for (const s of e.entered) states.add(s);
  }
  return {
    id: edges.map((e) => e.step.token).join(''),
    steps: edges.map((e) => e.step),
    transitions: [...transitions],
    states: [...states],
  };
}

/** What a step has to do with a wait: its task is one, or it ended the one in progress (a cancel, the run timeout). */
function waitFacts(model: RunModel, state: ModelState, token: StepToken, taskId: string | undefined): Pick<PathStep, 'wait' | 'waiting'> {
  const tasks = indexTasks(model.sequence);
  if (token === Token.cancel || token === Token.runTimeout) {
    const current = state.run.context.current;
    return current && waitOf(tasks.spec(current.taskId)) ? { waiting: current.taskId } : {};
  }
  const wait = taskId === undefined ? undefined : waitOf(tasks.spec(taskId));
  return wait ? { wait: wait.for === 'signal' ? 'signal' : 'time' } : {};
}

/** Most transitions explored before giving up. A sequence of 10 tasks with 3 attempts needs about 300. */
const DEFAULT_LIMIT = 60_000;

function explore(model: RunModel, limit: number) {
  try {
    return getAdjacencyMap(model.logic, {
      fromState: model.initial,
      events: (s: ModelState) => model.events(s),
      serializeState: (s: ModelState) => model.key(s),
      limit,
    });
  } catch (error) {
    if ((error as Error).message !== 'Traversal limit exceeded') throw error;
    const { name, timeoutMs } = model.sequence;
    const jitter = model.sequence.tasks.some((t) => t.retry.backoff.jitter > 0)
      ? ', and backoff jitter makes every retry delay distinct'
      : '';
    const cause =
      timeoutMs !== undefined && timeoutMs <= model.longestMainMs
        ? `its run timeout (${formatDuration(timeoutMs)}) can cut the main phase (up to ${formatDuration(model.longestMainMs)}) at too many different moments${jitter}; ` +
          `a run timeout longer than ${formatDuration(model.longestMainMs)}${jitter ? ' or no jitter' : ''} keeps the model small`
        : 'it has too many distinct states';
    throw new LockstepError(ErrorCode.invalidUsage, `the path model of ${name} exceeds ${limit} transitions: ${cause}`);
  }
}

/**
 * The nodes in an order where every edge goes forward (Kahn's algorithm).
 *
 * @throws Error when the model has a cycle: a run model always ends.
 */
function topologicalOrder(all: Iterable<Node>, name: string): Node[] {
  const nodes = [...all];
  const waiting = new Map<Node, number>(nodes.map((n) => [n, n.in.length]));
  const order = nodes.filter((n) => n.in.length === 0);
  for (let i = 0; i < order.length; i++) {
    for (const e of order[i]!.out) {
      const left = waiting.get(e.to)! - 1;
      waiting.set(e.to, left);
      if (left === 0) order.push(e.to);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((n) => waiting.get(n)! > 0)!;
    throw new Error(`the run model of ${name} has a cycle through ${stuck.key}`);
  }
  return order;
}

/** Explores a run model with @xstate/graph and counts its complete paths. */
export function buildPathGraph(model: RunModel, options: { readonly limit?: number } = {}): PathGraph {
  const adjacency = explore(model, options.limit ?? DEFAULT_LIMIT);
  const nodes = new Map<string, Node>();
  for (const [key, value] of Object.entries(adjacency)) nodes.set(key, { key, state: value.state, out: [], in: [] });
  let edgeCount = 0;
  for (const [key, value] of Object.entries(adjacency)) {
    const from = nodes.get(key)!;
    for (const { event, state } of Object.values(value.transitions) as Array<{ event: RunEvent; state: ModelState }>) {
      const to = nodes.get(model.key(state))!;
      if (to === from) continue; // the event was ignored
      const task = model.taskOf(from.state, event);
      const token = tokenOf(event, from.state.run.context.stopping);
      const partial = { token, event, ...(task ?? {}), ...waitFacts(model, from.state, token, task?.taskId) };
      const edge: Edge = { from, to, step: { ...partial, label: label(partial) }, via: state.via, entered: state.entered };
      from.out.push(edge);
      to.in.push(edge);
      edgeCount++;
    }
  }
  const root = nodes.get(model.key(model.initial))!;

  // Paths to the end and from the root of every node, in topological order: iterative, so that a model of
  // thousands of steps cannot overflow the stack.
  const order = topologicalOrder(nodes.values(), model.sequence.name);
  const toEnd = new Map<Node, bigint>();
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    let n = node.state.status === 'done' ? 1n : 0n;
    for (const e of node.out) n += toEnd.get(e.to)!;
    toEnd.set(node, n);
  }
  const fromRoot = new Map<Node, bigint>();
  for (const node of order) {
    let n = node === root ? 1n : 0n;
    for (const e of node.in) n += fromRoot.get(e.from)!;
    fromRoot.set(node, n);
  }
  const countToEnd = (node: Node): bigint => toEnd.get(node)!;
  const countFromRoot = (node: Node): bigint => fromRoot.get(node)!;
  const total = countToEnd(root);

  const edges = [...nodes.values()].flatMap((n) => n.out);
  const reachableTransitions = [...new Set([...model.initial.via, ...edges.flatMap((e) => e.via)])];
  const reachableStates = [...new Set([...model.initial.entered, ...edges.flatMap((e) => e.entered)])];
  const withInitial = (path: ModelPath): ModelPath => ({
    ...path,
    transitions: [...new Set([...model.initial.via, ...path.transitions])],
    states: [...new Set([...model.initial.entered, ...path.states])],
  });

  const all = (): ModelPath[] => {
    const paths: ModelPath[] = [];
    // Depth first without recursion: the edge taken at each depth, and the next one to try there.
    const trail: Edge[] = [];
    const next: number[] = [0];
    const nodeAt: Node[] = [root];
    if (root.state.status === 'done') paths.push(withInitial(toPath(trail)));
    while (nodeAt.length > 0) {
      const node = nodeAt[nodeAt.length - 1]!;
      const i = next[next.length - 1]!;
      if (i >= node.out.length) {
        nodeAt.pop();
        next.pop();
        trail.pop();
        continue;
      }
      next[next.length - 1] = i + 1;
      const e = node.out[i]!;
      trail.push(e);
      if (e.to.state.status === 'done') paths.push(withInitial(toPath(trail)));
      nodeAt.push(e.to);
      next.push(0);
    }
    return paths;
  };

  const select: PathGraph['select'] = ({ maxPaths, seed }) => {
    if (total <= BigInt(maxPaths)) return { paths: all(), exhaustive: true };
    const random = createRandom(seed);
    // Uniform over complete paths: each edge is taken in proportion to the paths through it.
    const pick = (options: readonly Edge[], weight: (e: Edge) => bigint): Edge => {
      const sum = options.reduce((s, e) => s + weight(e), 0n);
      let r = random.below(sum);
      for (const e of options) {
        r -= weight(e);
        if (r < 0n) return e;
      }
      return options[options.length - 1]!;
    };
    const suffix = (node: Node): Edge[] => {
      const trail: Edge[] = [];
      for (let n = node; n.state.status !== 'done'; ) {
        const e = pick(
          n.out.filter((o) => countToEnd(o.to) > 0n),
          (o) => countToEnd(o.to),
        );
        trail.push(e);
        n = e.to;
      }
      return trail;
    };
    const prefix = (node: Node): Edge[] => {
      const trail: Edge[] = [];
      for (let n = node; n !== root; ) {
        const e = pick(n.in, (i) => countFromRoot(i.from));
        trail.push(e);
        n = e.from;
      }
      return trail.reverse();
    };
    const chosen = new Map<string, ModelPath>();
    const transitions = new Set<string>(model.initial.via);
    const states = new Set<string>(model.initial.entered);
    const add = (trail: Edge[]) => {
      const path = withInitial(toPath(trail));
      if (chosen.has(path.id)) return false;
      chosen.set(path.id, path);
      for (const t of path.transitions) transitions.add(t);
      for (const s of path.states) states.add(s);
      return true;
    };
    // The live edges (some path to the end goes through them) that take each transition and enter each state.
    const byTransition = new Map<string, Edge[]>();
    const byState = new Map<string, Edge[]>();
    const index = (map: Map<string, Edge[]>, key: string, e: Edge) => {
      const list = map.get(key);
      if (list) list.push(e);
      else map.set(key, [e]);
    };
    for (const e of edges) {
      if (countToEnd(e.to) === 0n) continue;
      for (const t of new Set(e.via)) index(byTransition, t, e);
      for (const st of new Set(e.entered)) index(byState, st, e);
    }
    const cover = (through: readonly Edge[] | undefined) => {
      if (!through || through.length === 0) return;
      const e = through[Number(random.below(BigInt(through.length)))]!;
      add([...prefix(e.from), e, ...suffix(e.to)]);
    };
    for (const t of reachableTransitions) if (!transitions.has(t)) cover(byTransition.get(t));
    for (const st of reachableStates) if (!states.has(st)) cover(byState.get(st));
    for (let tries = 0; chosen.size < maxPaths && tries < maxPaths * 20; tries++) add(suffix(root));
    return { paths: [...chosen.values()].sort((a, b) => byEventOrder(a.id, b.id)), exhaustive: false };
  };

  const path = (id: string): ModelPath => {
    const trail: Edge[] = [];
    let node = root;
    for (const [i, token] of [...id].entries()) {
      const e = node.out.find((o) => o.step.token === token);
      if (!e) {
        const possible = node.out.map((o) => o.step.token).join(', ') || 'none: the run has ended';
        throw new LockstepError(
          ErrorCode.invalidUsage,
          `path ${id}: step ${i + 1} "${token}" is not possible there (possible: ${possible})`,
        );
      }
      trail.push(e);
      node = e.to;
    }
    if (node.state.status !== 'done') {
      const possible = node.out.map((o) => o.step.token).join(', ');
      throw new LockstepError(ErrorCode.invalidUsage, `path ${id} stops before the run ends (next step could be: ${possible})`);
    }
    return withInitial(toPath(trail));
  };

  return { model, total, reachableTransitions, reachableStates, size: { states: nodes.size, edges: edgeCount }, select, path };
}
