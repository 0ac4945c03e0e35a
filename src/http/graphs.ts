import { renderGraphSvgOffThread, renderTaskGraphSvgOffThread } from '../adapters/graphviz/graph-svg-thread.js';
import { buildGraph } from '../core/graph/build-graph.js';
import type { MachineGraph } from '../core/graph/model.js';
import type { StatelyMachineConfig } from '../core/graph/stately.js';
import { toStatelyConfig } from '../core/graph/stately.js';
import type { TaskGraph } from '../core/graph/task-graph.js';
import { buildTaskGraph } from '../core/graph/task-graph.js';
import type { GraphView } from '../core/graph/views.js';
import type { Program } from '../core/step.js';

/**
 * The graphs the server hands out, computed once per program: the graph models (JSON), Stately's machine
 * config, and the SVG of each view that Graphviz lays out (in a worker thread, so that the server goes on
 * answering; a failed layout is tried again on the next request). SVG node ids are `task:build` in the task
 * view and state paths such as `main.build.running` in the machine view.
 */
export class GraphCache {
  readonly #graphs = new WeakMap<Program, MachineGraph>();
  readonly #taskGraphs = new WeakMap<Program, TaskGraph>();
  readonly #svgs = { machine: new WeakMap<Program, Promise<string>>(), tasks: new WeakMap<Program, Promise<string>>() };

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

  taskGraph(program: Program): TaskGraph {
    let graph = this.#taskGraphs.get(program);
    if (!graph) {
      graph = buildTaskGraph(program.sequence);
      this.#taskGraphs.set(program, graph);
    }
    return graph;
  }

  svg(program: Program, view: GraphView): Promise<string> {
    const cache = this.#svgs[view];
    let svg = cache.get(program);
    if (!svg) {
      svg =
        view === 'tasks'
          ? renderTaskGraphSvgOffThread(this.taskGraph(program))
          : renderGraphSvgOffThread(this.graph(program), { title: `${program.sequence.name} v${program.sequence.version}` });
      svg.catch(() => cache.delete(program));
      cache.set(program, svg);
    }
    return svg;
  }
}
