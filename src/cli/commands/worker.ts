import type { Command } from 'commander';
import { createShellWorker, loadSequences } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { everyInterval, kafkaOptions, positiveInt, untilSignal, withKafkaOptions } from '../kafka-options.js';
import { logBytesHelp, logBytesOf } from '../log-bytes.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';

interface WorkerCliOptions extends KafkaCliOptions, SequencesCliOptions {
  queue: string;
  group?: string;
  grace?: string;
  statsInterval?: string;
  logBytes?: string;
}

/**
 * `lockstep worker`: runs the shell tasks of the given definitions from one queue, until SIGTERM. On SIGTERM it
 * lets running tasks finish for `--grace` ms, then hands the rest back to the other workers of the queue.
 */
export function registerWorker(program: Command, cli: CliContext): void {
  withSequencesOption(
    withKafkaOptions(program.command('worker')),
    'directory (or file) of sequence definitions whose tasks this worker runs (required)',
  )
    .description('run tasks from a queue over Kafka (shell tasks of the definitions; they use queue "default")')
    .option('--queue <name>', 'queue to take tasks from', 'default')
    .option('--group <id>', "consumer group of the queue's workers (default: <prefix>-workers-<queue>)")
    .option('--grace <ms>', 'on SIGTERM, wait this long for running tasks before handing them back', '10000')
    .option('--stats-interval <ms>', 'print a JSON stats line this often')
    .option('--log-bytes <n>', logBytesHelp)
    .action(async (opts: WorkerCliOptions) => {
      const registry = loadSequences(sequencesPath(opts, true));
      const connection = kafkaOptions(cli, opts);
      const logBytes = logBytesOf(cli, opts.logBytes);
      const worker = await createShellWorker({
        ...connection,
        registry,
        queue: opts.queue,
        cwd: cli.cwd,
        ...(opts.group ? { group: opts.group } : {}),
        ...(logBytes === undefined ? {} : { logBytes }),
        onLog: (message, extra) => cli.err(JSON.stringify({ level: 'warn', message, ...extra })),
      });
      const stats = () => cli.out(JSON.stringify({ event: 'stats', pid: process.pid, inFlight: worker.inFlight(), ...worker.stats }));
      cli.out(JSON.stringify({ event: 'ready', role: 'worker', pid: process.pid, queue: opts.queue, prefix: connection.prefix }));
      const stop = everyInterval(positiveInt('--stats-interval', opts.statsInterval), stats);
      const signal = await untilSignal();
      stop();
      const graceMs = Number(opts.grace ?? 10_000);
      cli.err(
        JSON.stringify({
          level: 'info',
          message: `${signal}: finishing ${worker.inFlight()} running task(s) within ${graceMs} ms, then handing the rest back`,
        }),
      );
      await worker.close({ graceMs });
      stats();
    });
}
