import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { describeTransition } from './edge-labels.js';
import type { GraphEdge, GraphGuard, GraphNode, MachineGraph, NodeKind } from './model.js';
import { stateNodeId } from './model.js';

/** What the graph functions read of a machine: its id and its root state node. */
export type GraphableMachine = Pick<AnyStateMachine, 'id' | 'root'>;

/** Options of {@link buildGraph}. */
export interface BuildGraphOptions {
  /**
   * Draw `cancel` and `run timeout` once from a compound state with several states inside when every
   * one of them has it as its last transition for that event (so, once from `main`). The hoisted edge
   * lists the atomic states that really carry it in `hoistedFrom`. Task edges (`succeeded`,
   * `failed (stop)`, ...) stay on their task even when every task shares them.
   * @default true
   */
  readonly hoist?: boolean;
}

const PHASE_KIND: Readonly<Record<string, NodeKind>> = { main: 'main', compensating: 'compensate', finalizing: 'finally' };
const PHASE_LABEL: Readonly<Record<string, string>> = {
  main: 'main',
  compensating: 'compensating (reverse order)',
  finalizing: 'finalizing (always runs)',
};

const isPlainData = (value: unknown): boolean =>
  value === null ||
  ['string', 'number', 'boolean'].includes(typeof value) ||
  (Array.isArray(value) ? value.every(isPlainData) : typeof value === 'object' && Object.values(value as object).every(isPlainData));

/** A guard or action as `{ type, params }`, with params only when they are plain data. */
export function namedReference(ref: unknown): GraphGuard {
  if (typeof ref === 'string') return { type: ref };
  if (typeof ref === 'function') return { type: ref.name || 'inline' };
  const { type, params } = (ref ?? {}) as { type?: unknown; params?: unknown };
  const name = typeof type === 'string' ? type : 'inline';
  return params !== undefined && typeof params === 'object' && params !== null && isPlainData(params)
    ? { type: name, params: params as Record<string, unknown> }
    : { type: name };
}

const idOf = (node: AnyStateNode): string => stateNodeId(node.path);
const children = (node: AnyStateNode): AnyStateNode[] => Object.values(node.states) as AnyStateNode[];

function initialLeaf(node: AnyStateNode): AnyStateNode {
  let current = node;
  while (current.type === 'compound') current = current.initial.target[0] as AnyStateNode;
  return current;
}

function nodeKind(node: AnyStateNode): NodeKind {
  if (node.type === 'final') return 'final';
  if (node.type === 'atomic' && (node.always?.length ?? 0) > 0 && node.transitions.size === 0) return 'router';
  return PHASE_KIND[node.path[0] ?? ''] ?? 'main';
}

function maxAttemptsWithin(node: AnyStateNode): number | undefined {
  for (const transitions of node.transitions.values()) {
    for (const t of transitions) {
      const guard = t.guard ? namedReference(t.guard) : undefined;
      if (guard?.type === 'canRetry' && typeof guard.params?.['maxAttempts'] === 'number') return guard.params['maxAttempts'];
    }
  }
  for (const child of children(node)) {
    const found = maxAttemptsWithin(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

function nodeLabel(node: AnyStateNode): string {
  const [phase, task] = node.path;
  if (node.path.length === 1) return PHASE_LABEL[phase ?? ''] ?? node.key;
  if (node.path.length === 2 && phase !== undefined && phase in PHASE_KIND && task !== undefined) {
    const name = phase === 'compensating' ? `${task}.compensate` : task;
    const attempts = maxAttemptsWithin(node);
    return attempts !== undefined && attempts > 1 ? `${name} (up to ${attempts} attempts)` : name;
  }
  return node.key;
}

function collectNodes(root: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (node: AnyStateNode) => {
    for (const child of children(node)) {
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

function edgesOf(node: AnyStateNode): GraphEdge[] {
  const source = idOf(node);
  const groups: [string | null, readonly AnyTransitionDefinition[]][] = [
    ...[...node.transitions.entries()],
    ...(node.always?.length ? [[null, node.always] as [null, AnyTransitionDefinition[]]] : []),
  ];
  const edges: GraphEdge[] = [];
  for (const [event, transitions] of groups) {
    const siblingGuards = transitions.map((t) => (t.guard ? namedReference(t.guard) : undefined));
    transitions.forEach((t, index) => {
      const guard = siblingGuards[index];
      const description = describeTransition({ event, actions: t.actions, siblingGuards, ...(guard ? { guard } : {}) });
      const targets = (t.target?.length ? t.target : [node]) as AnyStateNode[];
      targets.forEach((target, targetIndex) => {
        edges.push({
          id: `${source}:${event ?? 'always'}:${index}${targets.length > 1 ? `.${targetIndex}` : ''}`,
          source,
          target: idOf(target),
          enters: idOf(initialLeaf(target)),
          event,
          ...(guard ? { guard } : {}),
          actions: t.actions.map((a) => namedReference(a).type),
          ...description,
          reenter: t.reenter,
        });
      });
    });
  }
  return edges;
}

const signature = (e: GraphEdge) => JSON.stringify([e.event, e.guard ?? null, e.target, e.label, e.reenter]);

/** The state whose edges stand for `node`'s: `node`, or the only state inside it, all the way down. */
function carrier(node: AnyStateNode): AnyStateNode {
  let current = node;
  while (current.type === 'compound' && children(current).length === 1) current = children(current)[0]!;
  return current;
}

/**
 * Replaces, bottom-up, abort edges (cancel, run timeout) every child of a compound state shares by
 * one edge from that state. A compound state with a single state inside (a task that never retries
 * has only `running`) keeps its edges on that state, and stands for it when its parent is considered.
 */
function hoist(nodes: readonly AnyStateNode[], edges: GraphEdge[]): GraphEdge[] {
  let current = edges;
  const compounds = nodes.filter((n) => n.type === 'compound' && children(n).length > 1).sort((a, b) => b.path.length - a.path.length);
  for (const parent of compounds) {
    const kids = children(parent).map((kid) => idOf(carrier(kid)));
    const lastPerEvent = (id: string) => {
      const own = current.filter((e) => e.source === id);
      return own.filter((e) => !own.some((later) => later.event === e.event && own.indexOf(later) > own.indexOf(e)));
    };
    const candidates = lastPerEvent(kids[0]!).filter((e) => e.kind === 'abort');
    for (const candidate of candidates) {
      const sig = signature(candidate);
      const matches = kids.map((id) => lastPerEvent(id).find((e) => signature(e) === sig));
      if (matches.some((m) => m === undefined)) continue;
      const merged = matches as GraphEdge[];
      const source = idOf(parent);
      const hoisted: GraphEdge = {
        ...candidate,
        id: `${source}:${candidate.event ?? 'always'}:${candidate.guard?.type ?? 'unguarded'}`,
        source,
        actions: [...new Set(merged.flatMap((e) => e.actions))],
        hoistedFrom: merged.flatMap((e) => e.hoistedFrom ?? [e.source]),
      };
      const firstIndex = current.indexOf(merged[0]!);
      current = current.flatMap((e, i) => (i === firstIndex ? [hoisted] : merged.includes(e) ? [] : [e]));
    }
  }
  return current;
}

/**
 * Builds the graph of a compiled run machine by walking `machine.root`: every state node
 * (in document order) and every transition, eventless ones included, labelled by what it means.
 */
export function buildGraph(machine: GraphableMachine, options: BuildGraphOptions = {}): MachineGraph {
  const root = machine.root as AnyStateNode;
  const stateNodes = collectNodes(root);
  const atomicEdges = stateNodes.flatMap(edgesOf);
  const start = root.initial.target[0] as AnyStateNode;
  const nodes: GraphNode[] = stateNodes.map((node) => {
    const [phase] = node.path;
    const taskId = node.path.length >= 2 && phase !== undefined && phase in PHASE_KIND ? node.path[1] : undefined;
    const initial = node.type === 'compound' ? node.initial.target[0] : undefined;
    return {
      id: idOf(node),
      path: [...node.path],
      parent: node.parent && node.parent.path.length > 0 ? idOf(node.parent) : null,
      kind: nodeKind(node),
      type: node.type === 'final' ? 'final' : node.type === 'compound' ? 'compound' : 'atomic',
      ...(taskId ? { taskId } : {}),
      ...(initial ? { initial: idOf(initial as AnyStateNode) } : {}),
      label: nodeLabel(node),
    };
  });
  return {
    machineId: machine.id,
    initial: idOf(start),
    nodes,
    edges: options.hoist === false ? atomicEdges : hoist(stateNodes, atomicEdges),
  };
}
