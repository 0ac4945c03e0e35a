import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { renderGraphSvg, renderTaskGraphSvg } from '../../adapters/graphviz/graph-svg.js';
import { compile } from '../../core/compile/machine.js';
import { buildGraph } from '../../core/graph/build-graph.js';
import { toDot } from '../../core/graph/dot.js';
import { toMermaid } from '../../core/graph/mermaid.js';
import { toStatelyJson } from '../../core/graph/stately.js';
import { taskGraphToDot } from '../../core/graph/task-dot.js';
import { buildTaskGraph } from '../../core/graph/task-graph.js';
import { taskGraphToMermaid } from '../../core/graph/task-mermaid.js';
import { DEFAULT_GRAPH_VIEW, GraphView } from '../../core/graph/views.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/** The formats `lockstep graph` writes. */
export const GraphFormat = { mermaid: 'mermaid', dot: 'dot', json: 'json', svg: 'svg' } as const;
export type GraphFormat = (typeof GraphFormat)[keyof typeof GraphFormat];

/**
 * Renders a sequence file in one format and view: `tasks` (one node per task; `json` is the task graph model) or
 * `machine` (its compiled state machine; `json` is Stately's machine config). Invalid files throw `DefinitionError`.
 */
export async function renderSequenceGraph(file: string, format: GraphFormat, view: GraphView = DEFAULT_GRAPH_VIEW): Promise<string> {
  const { sequence } = loadSequenceFile(file);
  if (view === GraphView.tasks) {
    const graph = buildTaskGraph(sequence);
    switch (format) {
      case 'mermaid':
        return taskGraphToMermaid(graph);
      case 'dot':
        return taskGraphToDot(graph);
      case 'json':
        return JSON.stringify(graph, null, 2);
      case 'svg':
        return (await renderTaskGraphSvg(graph)).trimEnd();
    }
  }
  const machine = compile(sequence);
  const title = `${sequence.name} v${sequence.version}`;
  switch (format) {
    case 'mermaid':
      return toMermaid(buildGraph(machine), { title });
    case 'dot':
      return toDot(buildGraph(machine), { title });
    case 'json':
      return toStatelyJson(machine, { description: sequence.description ?? title });
    case 'svg':
      return (await renderGraphSvg(buildGraph(machine), { title })).trimEnd();
  }
}

/**
 * `lockstep graph <file> [--view tasks|machine] [--format mermaid|dot|json|svg] [--output FILE]`: draws a
 * sequence's tasks (node ids `task:build`, `start`, `end:failed`), or the state machine it compiles to (node ids
 * are state paths, `main.build.running`), in every format.
 */
export function registerGraph(program: Command, cli: CliContext): void {
  program
    .command('graph')
    .description('draw a sequence, one node per task or its state machine: Mermaid, Graphviz DOT, JSON or SVG')
    .argument('<file>', 'sequence file (.yaml, .yml, .json)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(Object.values(GraphFormat)).default(GraphFormat.mermaid))
    .addOption(
      new Option('--view <view>', 'tasks: one node per task; machine: the compiled state machine')
        .choices(Object.values(GraphView))
        .default(DEFAULT_GRAPH_VIEW),
    )
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (file: string, opts: { format: GraphFormat; view: GraphView; output?: string }) => {
      const text = await renderSequenceGraph(file, opts.format, opts.view);
      if (opts.output === undefined) {
        cli.out(text);
      } else {
        writeFileSync(opts.output, `${text}\n`);
        cli.err(`${file}: wrote ${opts.format} graph to ${opts.output} (${opts.view} view)`);
      }
      cli.exitCode = ExitCode.ok;
    });
}
