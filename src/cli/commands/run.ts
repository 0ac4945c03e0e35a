import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { createEmbeddedRuntime } from '../../modes/embedded/embedded-runtime.js';
import { loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInputOption } from '../input.js';
import { HumanReporter } from '../report/human-reporter.js';
import { openStore } from '../store.js';

interface RunOptions {
  input?: string;
  json?: boolean;
  store?: string;
  quiet?: boolean;
}

/** The JSON line printed for an entry: the entry without its internal machine event. */
export function entryLine(entry: RunEntry): string {
  const { event: _event, ...rest } = entry as RunEntry & { event?: unknown };
  return JSON.stringify(rest);
}

/** Exit code for a run's outcome. */
export function exitCodeOf(outcome: string): number {
  return outcome === 'succeeded' ? ExitCode.ok : outcome === 'cancelled' ? ExitCode.cancelled : ExitCode.failed;
}

/** `lockstep run <file>`: runs a sequence in this process (embedded mode) and records it in the store. */
export function registerRun(program: Command, cli: CliContext): void {
  program
    .command('run')
    .description('run a sequence in this process, one task after the other')
    .argument('<file>', 'sequence file (.yaml, .yml or .json)')
    .option('--input <json|@file>', 'run input: inline JSON or @path to a JSON file')
    .option('--json', 'print one JSON object per line for each event')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('-q, --quiet', 'do not print task output')
    .action(async (file: string, opts: RunOptions) => {
      const loaded = loadSequenceFile(file);
      const input = parseInputOption(opts.input, cli.cwd);
      const human = opts.json ? undefined : new HumanReporter(cli.out, { tty: cli.isTTY });
      const store = await openStore(cli, opts.store);
      const runtime = await createEmbeddedRuntime({
        store,
        onEntry: (e) => (human ? human.entry(e) : cli.out(entryLine(e))),
        ...(human && !opts.quiet ? { onOutput: (task, stream, line) => human.output(task.taskId, stream, line) } : {}),
      });
      runtime.register(loaded.sequence, { definition: loaded.text, source: resolve(cli.cwd, loaded.path) }); // absolute: rerun works from any directory
      const runId = await runtime.start({ sequence: loaded.sequence.name, input });
      const stop = (signal: string) => () => {
        cli.err(`lockstep: ${signal} received, cancelling run ${runId} (compensations and finally tasks still run; ${signal} again to stop at once)`);
        process.removeAllListeners('SIGINT');
        process.removeAllListeners('SIGTERM');
        process.once('SIGINT', () => process.exit(ExitCode.cancelled));
        process.once('SIGTERM', () => process.exit(ExitCode.cancelled));
        void runtime.orchestrator.cancel(runId, `interrupted by ${signal}`);
      };
      process.once('SIGINT', stop('SIGINT'));
      process.once('SIGTERM', stop('SIGTERM'));
      try {
        const final = await runtime.orchestrator.waitFor(runId);
        cli.exitCode = exitCodeOf(final.outcome);
      } finally {
        process.removeAllListeners('SIGINT');
        process.removeAllListeners('SIGTERM');
        await runtime.close();
      }
    });
}
