import type { GraphEdge, GraphNode, MachineGraph } from './model.js';

/** Options of {@link toDot}. */
export interface DotOptions {
  /** Shown as the graph label, e.g. the sequence name. */
  readonly title?: string;
  /** @default 'TB' */
  readonly rankdir?: 'TB' | 'LR';
}

/** Id of the start marker that points at the state a run starts in. */
export const DOT_START_ID = '__start';

/** A DOT double-quoted string. */
const q = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;

const attrs = (entries: Record<string, string | undefined>) =>
  `[${Object.entries(entries)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(', ')}]`;

/** The cluster name of a compound state; the cluster's own `id` (kept in SVG) is the state node id. */
export const clusterName = (nodeId: string) => `cluster_${nodeId}`;

const FILL: Readonly<Record<GraphNode['kind'], string>> = {
  main: '#ffffff',
  compensate: '#fff1e5',
  finally: '#ddf4ff',
  router: '#fff8c5',
  final: '#dafbe1',
};
const FINAL_FILL: Readonly<Record<string, string>> = { succeeded: '#dafbe1', failed: '#ffebe9', cancelled: '#eaeef2' };
const CLUSTER_FILL: Readonly<Record<GraphNode['kind'], string>> = {
  main: '#f6f8fa',
  compensate: '#fff8f2',
  finally: '#f1f8ff',
  router: '#ffffff',
  final: '#ffffff',
};
const EDGE_COLOR: Readonly<Record<GraphEdge['kind'], string>> = {
  progress: '#24292f',
  retry: '#1f6feb',
  failure: '#cf222e',
  abort: '#bc4c00',
};

function nodeStatement(node: GraphNode): string {
  const backoff = node.path.at(-1) === 'backoff';
  const shape = node.type === 'final' ? 'doublecircle' : node.kind === 'router' ? 'diamond' : 'box';
  const style = ['filled', ...(shape === 'box' ? ['rounded'] : []), ...(backoff ? ['dashed'] : [])].join(',');
  return `${q(node.id)} ${attrs({
    id: node.id,
    label: node.label,
    shape,
    style,
    fillcolor: (node.type === 'final' ? FINAL_FILL[node.path.at(-1) ?? ''] : undefined) ?? FILL[node.kind],
    tooltip: node.id,
  })};`;
}

/** The atomic state an edge leaving a compound state is drawn from (with `ltail`): its last leaf. */
function lastLeaf(nodeId: string, childrenOf: ReadonlyMap<string, GraphNode[]>): string {
  let id = nodeId;
  for (let kids = childrenOf.get(id); kids && kids.length > 0; kids = childrenOf.get(id)) id = kids.at(-1)!.id;
  return id;
}

function edgeStatement(edge: GraphEdge, compound: ReadonlySet<string>, childrenOf: ReadonlyMap<string, GraphNode[]>): string {
  const tail = compound.has(edge.source) ? lastLeaf(edge.source, childrenOf) : edge.source;
  const guard = edge.guard ? ` [${edge.guard.type}]` : '';
  return `${q(tail)} -> ${q(edge.enters)} ${attrs({
    id: edge.id,
    label: edge.label,
    color: EDGE_COLOR[edge.kind],
    fontcolor: EDGE_COLOR[edge.kind],
    style: edge.kind === 'retry' || edge.kind === 'abort' ? 'dashed' : undefined,
    ltail: compound.has(edge.source) ? clusterName(edge.source) : undefined,
    lhead: compound.has(edge.target) ? clusterName(edge.target) : undefined,
    tooltip: `${edge.source} -> ${edge.target}: ${edge.event ?? 'always'}${guard}`,
  })};`;
}

/**
 * Renders the graph in Graphviz DOT: one cluster per phase and per task (`compound=true`, so an
 * edge to a task or a phase ends at its cluster's border), with every node, cluster and edge
 * carrying an `id` attribute (the state node id, or the edge id) that Graphviz keeps in SVG.
 */
export function toDot(graph: MachineGraph, options: DotOptions = {}): string {
  const childrenOf = new Map<string, GraphNode[]>();
  const top: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (node.parent === null) top.push(node);
    else childrenOf.set(node.parent, [...(childrenOf.get(node.parent) ?? []), node]);
  }
  const compound = new Set(graph.nodes.filter((n) => n.type === 'compound').map((n) => n.id));
  const lines: string[] = [`digraph ${q(graph.machineId)} {`];
  lines.push(
    `  graph ${attrs({
      id: graph.machineId,
      compound: 'true',
      rankdir: options.rankdir ?? 'TB',
      fontname: 'Helvetica',
      label: options.title,
      labelloc: options.title === undefined ? undefined : 't',
      nodesep: '0.4',
      ranksep: '0.5',
    })};`,
  );
  lines.push(`  node ${attrs({ fontname: 'Helvetica', fontsize: '11' })};`);
  lines.push(`  edge ${attrs({ fontname: 'Helvetica', fontsize: '9' })};`);
  lines.push(
    `  ${q(DOT_START_ID)} ${attrs({ id: DOT_START_ID, shape: 'circle', style: 'filled', fillcolor: '#24292f', label: '', width: '0.2', tooltip: 'start' })};`,
  );

  const emit = (node: GraphNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    if (node.type !== 'compound') {
      lines.push(`${pad}${nodeStatement(node)}`);
      return;
    }
    lines.push(`${pad}subgraph ${q(clusterName(node.id))} {`);
    lines.push(
      `${pad}  graph ${attrs({
        id: node.id,
        label: node.label,
        style: 'rounded,filled',
        fillcolor: CLUSTER_FILL[node.kind],
        color: '#8c959f',
        tooltip: node.id,
      })};`,
    );
    for (const child of childrenOf.get(node.id) ?? []) emit(child, depth + 1);
    lines.push(`${pad}}`);
  };
  for (const node of top) emit(node, 1);

  const initial = graph.nodes.find((n) => n.id === graph.initial);
  const entered = initialLeafOf(graph, graph.initial);
  lines.push(
    `  ${q(DOT_START_ID)} -> ${q(entered)} ${attrs({
      id: `${DOT_START_ID}:${graph.initial}`,
      lhead: initial?.type === 'compound' ? clusterName(graph.initial) : undefined,
    })};`,
  );
  for (const edge of graph.edges) lines.push(`  ${edgeStatement(edge, compound, childrenOf)}`);
  lines.push('}');
  return lines.join('\n');
}

/** The atomic state entered first when a run enters `nodeId`. */
function initialLeafOf(graph: MachineGraph, nodeId: string): string {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  let node = byId.get(nodeId);
  while (node?.initial !== undefined) node = byId.get(node.initial);
  return node?.id ?? nodeId;
}
