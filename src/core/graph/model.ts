/**
 * The graph model of a compiled run machine: one node per state, one edge per transition.
 * Renderers (`toMermaid`, `toDot`) turn it into text; a web UI can highlight nodes by state path.
 */

/** What part of a run a state belongs to, or what it does. */
export const NodeKind = {
  /** A state of the main phase: the `main` state, a task, its `running` state or (if it retries) its `backoff` state. */
  main: 'main',
  /** A state of the compensation phase. */
  compensate: 'compensate',
  /** A state of the `finally` phase. */
  finally: 'finally',
  /** An eventless router: `settling`, and the `check` state of each compensation. */
  router: 'router',
  /** A final state: `succeeded`, `failed` or `cancelled`. */
  final: 'final',
} as const;
export type NodeKind = (typeof NodeKind)[keyof typeof NodeKind];

/** How an edge is drawn: what kind of progress its transition makes. */
export const EdgeKind = {
  /** A task succeeded, or a router picked the way on. */
  progress: 'progress',
  /** A retry loop: a failure or timeout with attempts left, the retry timer, an interruption. */
  retry: 'retry',
  /** A task failed (or timed out) for good: `stop` unwinds, `continue` carries on. */
  failure: 'failure',
  /** The run is cancelled or its whole-run timeout fires. */
  abort: 'abort',
} as const;
export type EdgeKind = (typeof EdgeKind)[keyof typeof EdgeKind];

/** A guard referenced by name, with its parameters when they are plain data. */
export interface GraphGuard {
  readonly type: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

/** One state of the machine. */
export interface GraphNode {
  /** {@link stateNodeId} of `path`, e.g. `main.build.running`. */
  readonly id: string;
  /** The state path from the machine root, e.g. `['main', 'build', 'running']`. */
  readonly path: readonly string[];
  /** Id of the parent state, or `null` for a top-level state. */
  readonly parent: string | null;
  readonly kind: NodeKind;
  readonly type: 'atomic' | 'compound' | 'final';
  /**
   * The task the state belongs to. For compensation states this is the id of the main task
   * being compensated (the dispatched task is `<taskId>.compensate`).
   */
  readonly taskId?: string;
  /** Id of the child entered first, for compound states. */
  readonly initial?: string;
  /** Short human label, e.g. `running` or `build (up to 3 attempts)`. */
  readonly label: string;
}

/** One transition of the machine. */
export interface GraphEdge {
  /** Stable: `<source id>:<EVENT or always>:<index>`, or `<source id>:<EVENT>:<guard>` for hoisted edges. */
  readonly id: string;
  /** Id of the state that has the transition (an atomic state, or a compound one for hoisted edges). */
  readonly source: string;
  /** Id of the state the transition targets (may be compound). */
  readonly target: string;
  /** Id of the atomic state actually entered: `target`, or its initial descendant. */
  readonly enters: string;
  /** The event type, or `null` for an eventless (`always`) transition. */
  readonly event: string | null;
  readonly guard?: GraphGuard;
  /** Names of the actions the transition runs, in order. */
  readonly actions: readonly string[];
  /** e.g. `succeeded`, `failed (retry)`, `skip (not completed)`. */
  readonly label: string;
  readonly kind: EdgeKind;
  /** The state is exited and re-entered even though it targets itself. */
  readonly reenter: boolean;
  /**
   * Set on an edge drawn once from a compound state because every state inside it has the
   * same transition: the ids of the atomic states that really carry it.
   */
  readonly hoistedFrom?: readonly string[];
}

/** The graph of one compiled machine. Nodes are in document order (parents before children). */
export interface MachineGraph {
  /** The machine id (`run`). */
  readonly machineId: string;
  /** Id of the top-level state a run starts in. */
  readonly initial: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** A state value as XState reports it, e.g. `{ main: { build: 'running' } }`. */
export type StateValue = string | { readonly [key: string]: StateValue };

/**
 * The node id of a state path: its keys joined with `.`, e.g. `['main', 'build', 'running']` ->
 * `main.build.running`. Every renderer uses it, so a UI can find the node of a run's current state.
 *
 * @throws RangeError when the path is empty or a key is empty or contains `.`.
 */
export function stateNodeId(path: readonly string[]): string {
  if (path.length === 0) throw new RangeError('Expected a state path with at least one key, got an empty path');
  path.forEach((key, index) => {
    if (key === '' || key.includes('.')) {
      throw new RangeError(`Expected state path keys that are non-empty and contain no ".", got ${JSON.stringify(key)} at index ${index}`);
    }
  });
  return path.join('.');
}

/**
 * The ids of every active state of a state value, ancestors first:
 * `{ main: { build: 'running' } }` -> `['main', 'main.build', 'main.build.running']`.
 */
export function activeNodeIds(value: StateValue): string[] {
  const ids: string[] = [];
  const walk = (v: StateValue, prefix: readonly string[]): void => {
    if (typeof v === 'string') {
      ids.push(stateNodeId([...prefix, v]));
      return;
    }
    for (const [key, child] of Object.entries(v)) {
      const path = [...prefix, key];
      ids.push(stateNodeId(path));
      walk(child, path);
    }
  };
  walk(value, []);
  return ids;
}
