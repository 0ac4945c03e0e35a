import type { TaskEdgeKind, TaskGraph, TaskGraphNode } from './task-graph.js';

/** Options of {@link taskGraphToMermaid}. */
export interface TaskMermaidOptions {
  /** Shown as the diagram title (front matter). @default the graph's title */
  readonly title?: string;
  /** @default 'TD' */
  readonly direction?: 'TD' | 'LR';
}

/** Task ids have `-` (Mermaid would read `--` as a link) and `_`: `-` -> `_d`, `_` -> `__` keeps ids apart. */
const key = (id: string) => id.replaceAll('_', '__').replaceAll('-', '_d');

/**
 * The Mermaid id of a task view node id: `start`, `run_<outcome>` (Mermaid reserves `end`), `t_<task>` for main and finally tasks and
 * `c_<task>` for the compensation of `<task>` (see {@link key} for the encoding of `-` and `_`).
 */
export function taskMermaidId(nodeId: string): string {
  if (nodeId.startsWith('end:')) return `run_${nodeId.slice(4)}`;
  if (!nodeId.startsWith('task:')) return nodeId;
  const taskId = nodeId.slice(5);
  return taskId.endsWith('.compensate') ? `c_${key(taskId.slice(0, -'.compensate'.length))}` : `t_${key(taskId)}`;
}

const text = (label: string) => `"${label.replaceAll('"', '#quot;')}"`;

function shape(node: TaskGraphNode): string {
  if (node.kind === 'start') return '(("start"))';
  if (node.kind === 'end') return `([${text(node.label)}])`;
  const label = text(node.badge ? `${node.label}<br/>${node.badge}` : node.label);
  // A wait runs nothing: drawn as a hexagon, apart from the tasks that run.
  return node.wait ? `{{${label}}}` : `(${label})`;
}

const ARROW: Readonly<Record<TaskEdgeKind, string>> = { next: '-->', failure: '-->', outcome: '-.->' };
const CLASS_DEFS = [
  'classDef compensation fill:#fff1e5,stroke:#bc4c00',
  'classDef finally fill:#f5f0ff,stroke:#8250df',
  'classDef run_succeeded fill:#dafbe1,stroke:#1a7f37',
  'classDef run_failed fill:#ffebe9,stroke:#cf222e',
  'classDef run_cancelled fill:#eaeef2,stroke:#57606a',
];

/**
 * Renders the task view as a Mermaid flowchart: one node per task (badges such as `up to 3 attempts` under the
 * name), success edges unlabelled, failure edges red and labelled, outcome edges dotted. Ids: {@link taskMermaidId}.
 */
export function taskGraphToMermaid(graph: TaskGraph, options: TaskMermaidOptions = {}): string {
  const lines = ['---', `title: ${JSON.stringify(options.title ?? graph.title)}`, '---', `flowchart ${options.direction ?? 'TD'}`];
  for (const node of graph.nodes) lines.push(`  ${taskMermaidId(node.id)}${shape(node)}`);
  const styles: string[] = [];
  graph.edges.forEach((edge, index) => {
    const label = edge.label ? `|${text(edge.label)}|` : '';
    lines.push(`  ${taskMermaidId(edge.source)} ${ARROW[edge.kind]}${label} ${taskMermaidId(edge.target)}`);
    if (edge.kind === 'failure') styles.push(`  linkStyle ${index} stroke:#cf222e`);
  });
  lines.push(...styles, ...CLASS_DEFS.map((def) => `  ${def}`));
  const byClass = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const cls = node.kind === 'compensation' || node.kind === 'finally' ? node.kind : node.kind === 'end' ? `run_${node.label}` : undefined;
    if (cls) byClass.set(cls, [...(byClass.get(cls) ?? []), taskMermaidId(node.id)]);
  }
  for (const [cls, ids] of byClass) lines.push(`  class ${ids.join(',')} ${cls}`);
  return lines.join('\n');
}
