import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { resolveRunId } from '../../runtime/run-listing.js';
import type { CliContext } from '../context.js';
import { prefixHelp } from '../kafka-options.js';
import { printRun, printRunJson } from '../report/run-report.js';
import { openStore } from '../store.js';
import { runSummary } from './runs.js';
import { showFromKafka } from './show-kafka.js';

interface ShowOptions {
  json?: boolean;
  store?: string;
  brokers?: string;
  prefix?: string;
}

/** `lockstep show <runId>`: a run's record and its full history, with timings, attempts, errors and results. */
export function registerShow(program: Command, cli: CliContext): void {
  program
    .command('show')
    .description("print a run's full event history: timings, attempts, errors and results")
    .argument('<runId>', 'id of a recorded run, or a unique prefix of it in a store (see `lockstep runs`); over Kafka, the whole id')
    .option('--json', 'print the run and its history as one JSON object')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('--brokers <list>', 'read the run from Kafka (its history and run-state topics) instead of a store')
    .option('--prefix <prefix>', `with --brokers: ${prefixHelp}`)
    .action(async (runId: string, opts: ShowOptions) => {
      if (opts.brokers && opts.store)
        throw new LockstepError(
          ErrorCode.invalidUsage,
          '--store and --brokers exclude each other: over Kafka the run is read from its topics',
        );
      if (opts.prefix && !opts.brokers) throw new LockstepError(ErrorCode.invalidUsage, '--prefix names Kafka topics: it needs --brokers');
      if (opts.brokers)
        return showFromKafka(cli, runId, {
          brokers: opts.brokers,
          ...(opts.prefix ? { prefix: opts.prefix } : {}),
          json: opts.json === true,
        });
      const store = await openStore(cli, opts.store, { mustExist: true, readOnly: true });
      try {
        const resolved = await resolveRunId(store, runId, store.path);
        const stored = await store.get(resolved);
        if (!stored) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${resolved} in ${store.path}`);
        const { record, history } = stored;
        const { status } = runSummary(record, store);
        if (opts.json) printRunJson(cli, record, history, status);
        else printRun(cli, record, history, status);
      } finally {
        await store.close();
      }
    });
}
