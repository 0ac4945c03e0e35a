import { renderGraphSvgOffThread } from '../adapters/graphviz/graph-svg-thread.js';
import { buildGraph } from '../core/graph/build-graph.js';
import type { MachineGraph } from '../core/graph/model.js';
import type { StatelyMachineConfig } from '../core/graph/stately.js';
import { toStatelyConfig } from '../core/graph/stately.js';
import type { Program } from '../core/step.js';

/**
 * The graphs the server hands out, computed once per program: the graph model (JSON), Stately's machine
 * config, and the SVG that Graphviz lays out (in a worker thread, so that the server goes on answering; a failed
 * layout is tried again on the next request). SVG node ids are state paths such as `main.build.running`.
 */
export class GraphCache {
  readonly #graphs = new WeakMap<Program, MachineGraph>();
  readonly #svgs = new WeakMap<Program, Promise<string>>();

  graph(program: Program): MachineGraph {
    let graph = this.#graphs.get(program);
    if (!graph) {
      graph = buildGraph(program.machine);
      this.#graphs.set(program, graph);
    }
    return graph;
  }

  stately(program: Program): StatelyMachineConfig {
    const description = program.sequence.description;
    return toStatelyConfig(program.machine, description === undefined ? {} : { description });
  }

  svg(program: Program): Promise<string> {
    let svg = this.#svgs.get(program);
    if (!svg) {
      svg = renderGraphSvgOffThread(this.graph(program), { title: `${program.sequence.name} v${program.sequence.version}` });
      svg.catch(() => this.#svgs.delete(program));
      this.#svgs.set(program, svg);
    }
    return svg;
  }
}
