import type { Command } from 'commander';
import { listSequenceFiles, loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { DefinitionError, ErrorCode, LockstepError } from '../../core/errors.js';
import { formatProblems } from '../../core/sequence/problems.js';
import type { Sequence } from '../../core/sequence/types.js';
import { testSequence } from '../../testing/test-sequence.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatReport, reportJson } from '../report/path-report.js';

interface TestOptions {
  maxPaths: string;
  seed: string;
  path?: string;
  json?: boolean;
}

function positiveInt(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new LockstepError(ErrorCode.invalidUsage, `${option}: expected an integer from 1 and up, got "${value}"`);
  return n;
}

function filesOf(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    try {
      return listSequenceFiles(p);
    } catch {
      return [p]; // loading it reports "file not found"
    }
  });
}

/**
 * `lockstep test <file|dir>...`: enumerates every path of each sequence over task outcomes, cancellation and
 * timeouts, runs each one through the embedded runtime with simulated time, and checks the invariants.
 * Exits 1 when any path breaks one, 2 when a file is not a valid sequence (the other files are still tested).
 */
export function registerTest(program: Command, cli: CliContext): void {
  program
    .command('test')
    .description('model-based test: run every failure path of a sequence through the runtime and check its invariants')
    .argument('<paths...>', 'sequence files (.yaml, .yml, .json) or directories of them')
    .option('--max-paths <n>', 'most paths to run per sequence; more are sampled (seeded), still covering every transition', '500')
    .option('--seed <s>', 'seed of the sample', '1')
    .option('--path <id>', 'run only this path (as printed in the PATH column), to replay a failure')
    .option('--json', 'print one JSON object per file')
    .action(async (paths: string[], opts: TestOptions) => {
      const maxPaths = positiveInt(opts.maxPaths, '--max-paths');
      const files = filesOf(paths);
      if (opts.path !== undefined && files.length !== 1) {
        throw new LockstepError(ErrorCode.invalidUsage, `--path replays a path of one sequence: give one file, got ${files.length}`);
      }
      let failed = 0;
      let invalid = 0;
      for (const file of files) {
        let sequence: Sequence;
        try {
          sequence = loadSequenceFile(file).sequence;
        } catch (error) {
          if (!(error instanceof DefinitionError)) throw error;
          // A bad file is reported like `validate` does, and the other files are still tested.
          invalid++;
          if (opts.json) cli.out(JSON.stringify({ file, valid: false, problems: error.problems }));
          else
            cli.err(
              `${file}: invalid\n${formatProblems(error.problems)
                .split('\n')
                .map((l) => `  ${l}`)
                .join('\n')}`,
            );
          continue;
        }
        let report: Awaited<ReturnType<typeof testSequence>>;
        try {
          report = await testSequence(sequence, { maxPaths, seed: opts.seed, ...(opts.path !== undefined ? { paths: [opts.path] } : {}) });
        } catch (error) {
          // A sequence past a limit of path testing (its size, an unknown --path): reported, and the others go on.
          if (!(error instanceof LockstepError) || files.length === 1) throw error;
          invalid++;
          if (opts.json) cli.out(JSON.stringify({ file, valid: true, tested: false, error: { code: error.code, message: error.message } }));
          else cli.err(`${file}: not tested: ${error.message} (${error.code})`);
          continue;
        }
        failed += report.failed.length;
        if (opts.json) cli.out(JSON.stringify(reportJson(file, report)));
        else for (const line of formatReport(file, report)) cli.out(line);
      }
      cli.exitCode = invalid > 0 ? ExitCode.invalid : failed > 0 ? ExitCode.failed : ExitCode.ok;
    });
}
