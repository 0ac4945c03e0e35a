import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { toDot } from '../core/graph/dot.js';
import type { DotOptions } from '../core/graph/dot.js';
import type { MachineGraph } from '../core/graph/model.js';

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
 * Renders a machine graph as SVG: {@link toDot}, then Graphviz's `dot` layout. Each state is a
 * `<g id="<state node id>">` (class `node` for atomic and final states, `cluster` for compound
 * ones) and each transition a `<g id="<edge id>" class="edge">`, so a UI can style them by id.
 */
export async function renderGraphSvg(graph: MachineGraph, options: DotOptions = {}): Promise<string> {
  return layoutDot(toDot(graph, options), 'svg');
}
