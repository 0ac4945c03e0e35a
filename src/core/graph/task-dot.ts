import type { TaskEdgeKind, TaskGraph, TaskGraphEdge, TaskGraphNode, TaskNodeKind } from './task-graph.js';

/** Options of {@link taskGraphToDot}. */
export interface TaskDotOptions {
  /** Shown as the graph label. @default the graph's title */
  readonly title?: string;
  /** @default 'TB' */
  readonly rankdir?: 'TB' | 'LR';
}

/** A DOT double-quoted string. */
const q = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
/** Text inside a DOT HTML-like label. */
const html = (value: string) => value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const attrs = (entries: Record<string, string | undefined>) =>
  `[${Object.entries(entries)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => (k === 'label' && v.startsWith('<') ? `${k}=${v}` : `${k}=${q(v)}`))
    .join(', ')}]`;

const FILL: Readonly<Record<TaskNodeKind, string>> = {
  start: '#24292f',
  task: '#ffffff',
  compensation: '#fff1e5',
  finally: '#f5f0ff',
  end: '#eaeef2',
};
const STROKE: Readonly<Record<TaskNodeKind, string>> = {
  start: '#24292f',
  task: '#57606a',
  compensation: '#bc4c00',
  finally: '#8250df',
  end: '#57606a',
};
const END_FILL: Readonly<Record<string, string>> = { succeeded: '#dafbe1', failed: '#ffebe9', cancelled: '#eaeef2' };
const EDGE_COLOR: Readonly<Record<TaskEdgeKind, string>> = { next: '#24292f', failure: '#cf222e', outcome: '#57606a' };

/** A task's label: its id (14 pt), and its badge below in a smaller font. */
function label(node: TaskGraphNode): string {
  const badge = node.badge ? `<BR/><FONT POINT-SIZE="10" COLOR="#57606a">${html(node.badge)}</FONT>` : '';
  return `<${html(node.label)}${badge}>`;
}

function nodeStatement(node: TaskGraphNode): string {
  if (node.kind === 'start') {
    return `${q(node.id)} ${attrs({ id: node.id, shape: 'circle', style: 'filled', fillcolor: FILL.start, label: '', width: '0.25', tooltip: 'start' })};`;
  }
  const end = node.kind === 'end';
  return `${q(node.id)} ${attrs({
    id: node.id,
    class: `task-${node.kind}`,
    label: label(node),
    // A wait runs nothing: drawn as a hexagon, apart from the tasks that run.
    shape: end ? 'ellipse' : node.wait ? 'hexagon' : 'box',
    style: end || node.wait ? 'filled' : 'rounded,filled',
    fillcolor: end ? (END_FILL[node.label] ?? FILL.end) : FILL[node.kind],
    color: STROKE[node.kind],
    penwidth: end ? '1' : '1.5',
    // One group per column keeps the main tasks, and the compensations, in straight lines.
    group: node.kind === 'task' || node.kind === 'compensation' ? node.kind : undefined,
    tooltip: node.description ?? node.taskId ?? `run ${node.label}`,
  })};`;
}

function edgeStatement(edge: TaskGraphEdge, upward: boolean, repeated: boolean): string {
  return `${q(edge.source)} -> ${q(edge.target)} ${attrs({
    id: edge.id,
    // Many tasks can fail into the same compensation: one label (and one arrow head) says it for all of them.
    label: repeated ? undefined : edge.label,
    samehead: edge.kind === 'failure' ? `failed:${edge.target}` : undefined,
    color: EDGE_COLOR[edge.kind],
    fontcolor: EDGE_COLOR[edge.kind],
    style: edge.kind === 'outcome' ? 'dashed' : undefined,
    // A failure jumps to the unwinding, which runs upwards beside the tasks: neither may reorder the ranks.
    constraint: upward ? 'false' : undefined,
    tooltip: edge.label ? `${edge.source} -> ${edge.target}: ${edge.label}` : `${edge.source} -> ${edge.target}`,
  })};`;
}

/**
 * Renders the task view in Graphviz DOT, top to bottom: the main tasks in one column, each compensation on the
 * rank of the task it undoes (so the unwinding reads upwards beside them), the finally tasks and the ends below.
 * Every node and edge carries an `id` (`task:build`, `end:failed`, `task:build->task:test`) that Graphviz keeps
 * in SVG; nodes also get the class `task-<kind>`.
 */
export function taskGraphToDot(graph: TaskGraph, options: TaskDotOptions = {}): string {
  const lines: string[] = ['digraph "tasks" {'];
  lines.push(
    `  graph ${attrs({
      id: 'tasks',
      rankdir: options.rankdir ?? 'TB',
      fontname: 'Helvetica',
      fontsize: '14',
      label: options.title ?? graph.title,
      labelloc: 't',
      nodesep: '0.5',
      ranksep: '0.4',
      newrank: 'true',
    })};`,
  );
  lines.push(`  node ${attrs({ fontname: 'Helvetica', fontsize: '14', margin: '0.15,0.06' })};`);
  lines.push(`  edge ${attrs({ fontname: 'Helvetica', fontsize: '11', arrowsize: '0.7' })};`);
  for (const node of graph.nodes) lines.push(`  ${nodeStatement(node)}`);
  // A compensation beside the task it undoes.
  for (const node of graph.nodes) {
    if (node.kind !== 'compensation' || !node.taskId) continue;
    const main = `task:${node.taskId.replace(/\.compensate$/, '')}`;
    lines.push(`  { rank=same; ${q(main)}; ${q(node.id)}; }`);
  }
  const kindOf = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  const labelled = new Set<string>();
  for (const edge of graph.edges) {
    const upward = edge.kind === 'failure' || kindOf.get(edge.target) === 'compensation';
    const key = `${edge.target}\n${edge.label ?? ''}`;
    lines.push(`  ${edgeStatement(edge, upward, edge.kind === 'failure' && labelled.has(key))}`);
    labelled.add(key);
  }
  lines.push('}');
  return lines.join('\n');
}
