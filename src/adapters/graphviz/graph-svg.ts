import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { DotOptions } from '../../core/graph/dot.js';
import { toDot } from '../../core/graph/dot.js';
import type { MachineGraph } from '../../core/graph/model.js';
import type { TaskDotOptions } from '../../core/graph/task-dot.js';
import { taskGraphToDot } from '../../core/graph/task-dot.js';
import type { TaskGraph } from '../../core/graph/task-graph.js';

/**
 * Most states (graph nodes, compound ones included) an SVG graph is laid out for. Graphviz's `dot` layout of a
 * machine's nested states takes far longer than the graph grows: about 10 s at 90 states and 30 s at 130 on
 * two cores, and a 1,000-task sequence (2,009 states) runs its WebAssembly out of memory. Larger graphs are
 * refused; `-f dot`, `mermaid` and `json` have no such limit.
 */
export const MAX_SVG_STATES = 120;

/**
 * Most nodes a task view is laid out for as SVG. Its graph is flat (no clusters), so Graphviz lays out a
 * 50-task sequence in well under a second; the limit only keeps a huge sequence from taking minutes.
 */
export const MAX_SVG_TASK_NODES = 400;

let loading: Promise<Graphviz> | undefined;

/** Loads Graphviz (WebAssembly, bundled in the package: no download) once per process. */
function graphviz(): Promise<Graphviz> {
  loading ??= Graphviz.load().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** Output formats of {@link layoutDot}: SVG, or Graphviz's JSON (layout and attributes of every object). */
export type GraphvizFormat = 'svg' | 'json';

/**
 * Lays out DOT text with Graphviz's `dot` engine and returns the result (SVG by default).
 * Node, cluster and edge `id` attributes of the DOT are kept as `id`s of the SVG groups.
 *
 * @throws Error with Graphviz's message (e.g. `syntax error in line 3 near '}'`) when the DOT is invalid.
 */
export async function layoutDot(dot: string, format: GraphvizFormat = 'svg'): Promise<string> {
  const engine = await graphviz();
  try {
    return engine.layout(dot, format, 'dot');
  } catch (error) {
    throw new Error(`Graphviz could not lay out the graph: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Refuses a graph too large to lay out as SVG (more than {@link MAX_SVG_STATES} states).
 *
 * @throws LockstepError (`INVALID_USAGE`) naming the number of states and the limit.
 */
export function checkSvgSize(graph: MachineGraph, title?: string): void {
  if (graph.nodes.length <= MAX_SVG_STATES) return;
  throw new LockstepError(
    ErrorCode.invalidUsage,
    `the graph${title ? ` of ${title}` : ''} has ${graph.nodes.length} states; SVG layout takes at most ${MAX_SVG_STATES} ` +
      '(Graphviz takes far longer than the graph grows): use --format dot, mermaid or json',
  );
}

/**
 * Renders a machine graph as SVG: {@link toDot}, then Graphviz's `dot` layout. Each state is a
 * `<g id="<state node id>">` (class `node` for atomic and final states, `cluster` for compound
 * ones) and each transition a `<g id="<edge id>" class="edge">`, so a UI can style them by id.
 *
 * @throws LockstepError (`INVALID_USAGE`) for a graph of more than {@link MAX_SVG_STATES} states.
 */
export async function renderGraphSvg(graph: MachineGraph, options: DotOptions = {}): Promise<string> {
  checkSvgSize(graph, options.title);
  return layoutDot(toDot(graph, options), 'svg');
}

/**
 * Refuses a task view too large to lay out as SVG (more than {@link MAX_SVG_TASK_NODES} nodes).
 *
 * @throws LockstepError (`INVALID_USAGE`) naming the number of nodes and the limit.
 */
export function checkTaskSvgSize(graph: TaskGraph): void {
  if (graph.nodes.length <= MAX_SVG_TASK_NODES) return;
  throw new LockstepError(
    ErrorCode.invalidUsage,
    `the task view of ${graph.title} has ${graph.nodes.length} nodes; SVG layout takes at most ${MAX_SVG_TASK_NODES}: ` +
      'use --format dot, mermaid or json',
  );
}

/**
 * Renders the task view as SVG: {@link taskGraphToDot}, then Graphviz's `dot` layout. Each task is a
 * `<g id="task:<task id>" class="node">` (`task:build`, `task:build.compensate`, `task:cleanup`), the start
 * `<g id="start">` and the ends `<g id="end:succeeded">` (`end:failed`, `end:cancelled`), so a page can colour
 * each task's node by id.
 *
 * @throws LockstepError (`INVALID_USAGE`) for more than {@link MAX_SVG_TASK_NODES} nodes.
 */
export async function renderTaskGraphSvg(graph: TaskGraph, options: TaskDotOptions = {}): Promise<string> {
  checkTaskSvgSize(graph);
  return layoutDot(taskGraphToDot(graph, options), 'svg');
}
