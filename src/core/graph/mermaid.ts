import type { GraphEdge, GraphNode, MachineGraph } from './model.js';

/** Options of {@link toMermaid}. */
export interface MermaidOptions {
  /** Shown as the diagram title (front matter), e.g. the sequence name. */
  readonly title?: string;
  /** @default 'TD' */
  readonly direction?: 'TD' | 'LR';
}

/** Id of the start marker that points at the state a run starts in. */
export const START_NODE_ID = '__start';

/**
 * The Mermaid id of a state node id. It is the node id itself, except for the rare task ids that
 * Mermaid's lexer would read as a link (a `--` inside a key, or a key ending in `-`): such keys are
 * encoded as `_` + the key with `_` -> `__` and `-` -> `_d`. No task id starts with `_`, so the
 * encoding cannot collide with a plain id.
 */
export function mermaidId(nodeId: string): string {
  return nodeId
    .split('.')
    .map((key) => (key.includes('--') || key.endsWith('-') ? `_${key.replaceAll('_', '__').replaceAll('-', '_d')}` : key))
    .join('.');
}

/** Quotes a label for Mermaid: inside `"..."`, a double quote is written `#quot;`. */
const text = (label: string) => `"${label.replaceAll('"', '#quot;')}"`;

function shape(node: GraphNode): string {
  const label = text(node.label);
  if (node.type === 'final') return `(((${label})))`;
  if (node.kind === 'router') return `{${label}}`;
  if (node.path.at(-1) === 'backoff') return `([${label}])`;
  return `(${label})`;
}

const FINAL_CLASSES = new Set(['succeeded', 'failed', 'cancelled']);
const finalClass = (node: GraphNode) => (FINAL_CLASSES.has(node.path.at(-1) ?? '') ? `final_${node.path.at(-1)}` : 'final');

const ARROW: Readonly<Record<GraphEdge['kind'], string>> = { progress: '-->', retry: '-.->', failure: '-->', abort: '-.->' };
const LINK_STYLE: Readonly<Record<GraphEdge['kind'], string | undefined>> = {
  progress: undefined,
  retry: 'stroke:#1f6feb',
  failure: 'stroke:#cf222e',
  abort: 'stroke:#bc4c00',
};
const CLASS_DEFS = [
  'classDef compensate fill:#fff1e5,stroke:#bc4c00',
  'classDef finally fill:#ddf4ff,stroke:#0969da',
  'classDef router fill:#fff8c5,stroke:#9a6700',
  'classDef final fill:#eaeef2,stroke:#57606a',
  'classDef final_succeeded fill:#dafbe1,stroke:#1a7f37',
  'classDef final_failed fill:#ffebe9,stroke:#cf222e',
  'classDef final_cancelled fill:#eaeef2,stroke:#57606a',
];

/**
 * Renders the graph as a Mermaid flowchart: one subgraph per phase (`main`, `compensating`,
 * `finalizing`) and one nested subgraph per task, so edges to a task or a phase point at the
 * subgraph. Retries are dotted blue, failures red, cancel and run timeout dotted orange.
 * Node and subgraph ids are the state node ids (see {@link mermaidId}).
 */
export function toMermaid(graph: MachineGraph, options: MermaidOptions = {}): string {
  const lines: string[] = [];
  if (options.title !== undefined) lines.push('---', `title: ${JSON.stringify(options.title)}`, '---');
  lines.push(`flowchart ${options.direction ?? 'TD'}`);
  lines.push(`  ${START_NODE_ID}(("start"))`);

  const childrenOf = new Map<string | null, GraphNode[]>();
  for (const node of graph.nodes) childrenOf.set(node.parent, [...(childrenOf.get(node.parent) ?? []), node]);
  const emit = (node: GraphNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const id = mermaidId(node.id);
    if (node.type !== 'compound') {
      lines.push(`${pad}${id}${shape(node)}`);
      return;
    }
    lines.push(`${pad}subgraph ${id}[${text(node.label)}]`);
    lines.push(`${pad}  direction TB`);
    for (const child of childrenOf.get(node.id) ?? []) emit(child, depth + 1);
    lines.push(`${pad}end`);
  };
  for (const node of childrenOf.get(null) ?? []) emit(node, 1);

  const styles: string[] = [];
  lines.push(`  ${START_NODE_ID} --> ${mermaidId(graph.initial)}`);
  graph.edges.forEach((edge, index) => {
    lines.push(`  ${mermaidId(edge.source)} ${ARROW[edge.kind]}|${text(edge.label)}| ${mermaidId(edge.target)}`);
    const style = LINK_STYLE[edge.kind];
    // Link indices count the start link first.
    if (style) styles.push(`  linkStyle ${index + 1} ${style}`);
  });
  lines.push(...styles);

  lines.push(...CLASS_DEFS.map((def) => `  ${def}`));
  const byClass = new Map<string, string[]>();
  for (const node of graph.nodes) {
    if (node.type === 'compound') continue;
    const cls = node.kind === 'main' ? undefined : node.kind === 'final' ? finalClass(node) : node.kind;
    if (cls) byClass.set(cls, [...(byClass.get(cls) ?? []), mermaidId(node.id)]);
  }
  for (const [cls, ids] of byClass) lines.push(`  class ${ids.join(',')} ${cls}`);
  return lines.join('\n');
}
