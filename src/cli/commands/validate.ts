import type { Command } from 'commander';
import { listSequenceFiles, loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { DefinitionError } from '../../core/errors.js';
import { formatProblems } from '../../core/sequence/problems.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/** `lockstep validate <file|dir>...`: reports every problem of every file, exits 2 if any is invalid. */
export function registerValidate(program: Command, cli: CliContext): void {
  program
    .command('validate')
    .description('check sequence files and report every problem with its path')
    .argument('<paths...>', 'sequence files (.yaml, .yml, .json) or directories of them')
    .option('--json', 'print one JSON object per file')
    .action((paths: string[], opts: { json?: boolean }) => {
      let invalid = 0;
      for (const file of paths.flatMap((p) => safeList(p))) {
        try {
          const { sequence } = loadSequenceFile(file);
          if (opts.json) cli.out(JSON.stringify({ file, valid: true, name: sequence.name, tasks: sequence.tasks.length }));
          else cli.out(`${file}: ok (${sequence.name}, ${sequence.tasks.length} tasks, ${sequence.finally.length} finally)`);
        } catch (error) {
          if (!(error instanceof DefinitionError)) throw error;
          invalid++;
          if (opts.json) cli.out(JSON.stringify({ file, valid: false, problems: error.problems }));
          else cli.err(`${file}: invalid\n${indent(formatProblems(error.problems))}`);
        }
      }
      cli.exitCode = invalid > 0 ? ExitCode.invalid : ExitCode.ok;
    });
}

function safeList(path: string): string[] {
  try {
    return listSequenceFiles(path);
  } catch {
    return [path];
  }
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
