import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { renderGraphSvg } from '../../adapters/graphviz/graph-svg.js';
import { compile } from '../../core/compile/machine.js';
import { buildGraph } from '../../core/graph/build-graph.js';
import { toDot } from '../../core/graph/dot.js';
import { toMermaid } from '../../core/graph/mermaid.js';
import { toStatelyJson } from '../../core/graph/stately.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/** The formats `lockstep graph` writes. */
export const GraphFormat = { mermaid: 'mermaid', dot: 'dot', json: 'json', svg: 'svg' } as const;
export type GraphFormat = (typeof GraphFormat)[keyof typeof GraphFormat];

/** Renders a sequence file's compiled machine in one format. Invalid files throw `DefinitionError`. */
export async function renderSequenceGraph(file: string, format: GraphFormat): Promise<string> {
  const { sequence } = loadSequenceFile(file);
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
 * `lockstep graph <file> [--format mermaid|dot|json|svg] [--output FILE]`: draws the state machine a
 * sequence compiles to. Node ids are state paths (`main.build.running`), in every format.
 */
export function registerGraph(program: Command, cli: CliContext): void {
  program
    .command('graph')
    .description('draw the state machine of a sequence: Mermaid, Graphviz DOT, Stately JSON or SVG')
    .argument('<file>', 'sequence file (.yaml, .yml, .json)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(Object.values(GraphFormat)).default(GraphFormat.mermaid))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (file: string, opts: { format: GraphFormat; output?: string }) => {
      const text = await renderSequenceGraph(file, opts.format);
      if (opts.output === undefined) {
        cli.out(text);
      } else {
        writeFileSync(opts.output, `${text}\n`);
        cli.err(`${file}: wrote ${opts.format} graph to ${opts.output}`);
      }
      cli.exitCode = ExitCode.ok;
    });
}
