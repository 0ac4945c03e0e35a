import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { acceptTraceparent } from '../../core/trace/traceparent.js';
import type { CliContext } from '../context.js';
import { driveRun } from '../drive-run.js';
import { parseInputOption } from '../input.js';
import { logBytesHelp, logBytesOf } from '../log-bytes.js';
import { openStore } from '../store.js';

interface RunOptions {
  input?: string;
  json?: boolean;
  store?: string;
  quiet?: boolean;
  logBytes?: string;
  traceparent?: string;
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
    .option('--log-bytes <n>', logBytesHelp)
    .option('--traceparent <value>', "W3C traceparent: the run's trace becomes a child of that span")
    .action(async (file: string, opts: RunOptions) => {
      const traceparent = opts.traceparent === undefined ? {} : { traceparent: acceptTraceparent(opts.traceparent, '--traceparent') };
      const loaded = loadSequenceFile(file);
      const input = parseInputOption(opts.input, cli.cwd);
      const logBytes = logBytesOf(cli, opts.logBytes);
      const store = await openStore(cli, opts.store);
      await driveRun(cli, {
        ...(logBytes === undefined ? {} : { logBytes }),
        // An absolute source, so that `rerun` finds the file from any directory.
        store,
        sequence: loaded.sequence,
        definition: loaded.text,
        source: resolve(cli.cwd, loaded.path),
        json: opts.json ?? false,
        quiet: opts.quiet ?? false,
        begin: (runtime) => runtime.start({ sequence: loaded.sequence.name, input, ...traceparent }),
      });
    });
}
